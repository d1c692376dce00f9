package sandbox

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Banner is what the sandbox command prints once everything listens.
type Banner struct {
	Version       string
	Brokers       []string
	Topics        []string
	Partitions    int32
	FirehoseURL   string
	DataDir       string
	FlushInterval time.Duration
	Group         string
	// MetricsAddr is the worker's /metrics listener; empty when off.
	MetricsAddr string
	// Routes are the mapping rows, in config order.
	Routes []Route
	// GenerateRate is the generator's events per second; 0 when off.
	GenerateRate float64
	GenerateSeed int64
	// Throttle is the share of calls the endpoint throttles on purpose.
	Throttle float64
	// Command is how a user runs this binary, for the produce example.
	Command string
}

// Route is one mapping row.
type Route struct{ Event, Stream string }

// ReadyLine ends the banner; a script waits for it before producing.
const ReadyLine = "Ready. Ctrl-C stops everything and prints a summary."

// String renders the banner, ending in ReadyLine.
func (b Banner) String() string {
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	broker := strings.Join(b.Brokers, ",")
	topic := "segment-events"
	if len(b.Topics) > 0 {
		topic = b.Topics[0]
	}
	w("firehose-worker sandbox %s\n\n", b.Version)
	w("  Kafka      %s  topics %s (%d partitions each), kept in memory: a restart starts empty\n",
		broker, strings.Join(b.Topics, ", "), b.Partitions)
	w("  Firehose   %s  files under %s/<stream>/YYYY/MM/DD/HH/, flushed every %s\n",
		b.FirehoseURL, strings.TrimRight(b.DataDir, "/"), b.FlushInterval)
	if b.Throttle > 0 {
		w("             throttles %.0f%% of calls on purpose, so the worker retries\n", b.Throttle*100)
	}
	metrics := "off"
	if b.MetricsAddr != "" {
		metrics = "http://" + b.MetricsAddr + "/metrics"
	}
	w("  Worker     group %s, metrics %s\n", b.Group, metrics)
	routes := make([]string, len(b.Routes))
	for i, r := range b.Routes {
		ev := r.Event
		if strings.ContainsAny(ev, " ") {
			ev = fmt.Sprintf("%q", ev)
		}
		routes[i] = ev + " -> " + r.Stream
	}
	w("  Routes     %s\n", strings.Join(routes, ", "))
	if b.GenerateRate > 0 {
		w("  Generator  %g events/s to %s, seed %d\n", b.GenerateRate, topic, b.GenerateSeed)
	} else {
		w("  Generator  off (--generate RATE turns it on)\n")
	}
	event := shellQuote(b.exampleEvent())
	command := b.Command
	if command == "" {
		command = "firehose-worker"
	}
	w("\nProduce an event yourself:\n")
	w("  echo %s | kcat -P -b %s -t %s\n", event, broker, topic)
	w("  echo %s | kafka-console-producer.sh --bootstrap-server %s --topic %s\n", event, broker, topic)
	w("  echo %s | %s produce --brokers %s --topic %s --replay -\n", event, command, broker, topic)
	w("\n%s\n", ReadyLine)
	return s.String()
}

// segmentTypes are the values of "type"; a row naming one is not an event.
var segmentTypes = map[string]bool{"track": true, "page": true, "identify": true, "group": true, "screen": true, "alias": true, "*": true}

// exampleEvent is a track call that the first event-name row routes, so
// the example shows routing at work.
func (b Banner) exampleEvent() string {
	name := "Order Completed"
	for _, r := range b.Routes {
		if ev := strings.TrimSpace(r.Event); !segmentTypes[strings.ToLower(ev)] {
			name = ev
			break
		}
	}
	quoted, _ := json.Marshal(name)
	return `{"type":"track","event":` + string(quoted) + `,"userId":"u1","messageId":"try-1","properties":{"revenue":42}}`
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
