package main

import "testing"

func TestCounterValue(t *testing.T) {
	t.Parallel()
	const name = "messaging_client_consumed_messages_total"
	for _, tc := range []struct {
		line string
		want float64
		ok   bool
	}{
		{`messaging_client_consumed_messages_total{messaging_destination_name="bench-events"} 200000`, 200000, true},
		{`messaging_client_consumed_messages_total 12`, 12, true},
		{`messaging_client_consumed_messages_total{a="}",b="x"} 1.5e+06`, 1.5e6, true},
		{`# HELP messaging_client_consumed_messages_total Kafka messages fetched, by topic.`, 0, false},
		{`messaging_client_consumed_messages_total_created 5`, 0, false},
		{`firehose_worker_messages_total{outcome="routed"} 7`, 0, false},
		{`messaging_client_consumed_messages_total{x="y"}`, 0, false},
	} {
		got, ok := counterValue(tc.line, name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("counterValue(%q) = %v, %v; want %v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
