package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRedriveRefusesBadFlagsAndConfigs(t *testing.T) {
	t.Parallel()
	noDLQ := writeConfig(t, []string{"127.0.0.1:1"}, "g", "events", "")
	withDLQ := noDLQ + ".dlq.yaml"
	body, err := os.ReadFile(noDLQ)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(withDLQ, []byte(strings.Replace(string(body), "  group_id: g\n", "  group_id: g\n  dlq_topic: dead\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no dead-letter topic", []string{"--config", noDLQ}, 2, "kafka.dlq_topic is not set"},
		{"unknown flag", []string{"--config", withDLQ, "--colour"}, 2, "flag provided but not defined: -colour"},
		{"bad since", []string{"--config", withDLQ, "--since", "yesterday"}, 2, `--since: "yesterday" is neither an RFC 3339 time`},
		{"since after until", []string{"--config", withDLQ, "--since", "2026-12-02T00:00:00Z", "--until", "2026-12-01T00:00:00Z"}, 2, "--since (2026-12-02T00:00:00Z) must be before --until"},
		{"bad stream name", []string{"--config", withDLQ, "--to-stream", "no spaces"}, 2, `--to-stream: "no spaces" is not a delivery stream name`},
		{"unknown source", []string{"--config", withDLQ, "--source", "src_9"}, 2, `--source: "src_9" is not a source of`},
		{"stray argument", []string{"--config", withDLQ, "now"}, 2, `unexpected arguments ["now"]`},
		{"missing config", []string{"--config", withDLQ + ".missing"}, 1, "is not valid"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := cli(context.Background(), append([]string{"redrive"}, c.args...), &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", c.name, code, stderr.String(), c.code, c.want)
		}
	}
}

func TestPointInTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"90m":                  now.Add(-90 * time.Minute),
		"2026-11-30T08:00:00Z": time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
	} {
		got, err := pointInTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("pointInTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := pointInTime("-5m", now); err == nil {
		t.Error("a negative duration is accepted")
	}
}
