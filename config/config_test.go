package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLoadMinimalGetsDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/valid_minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Batch.MaxRecords; got != 500 {
		t.Errorf("batch.max_records = %d, want 500", got)
	}
	if got := cfg.Batch.MaxBytes; got != 4<<20 {
		t.Errorf("batch.max_bytes = %d, want 4MiB", got)
	}
	if got := cfg.Sources[0].Routing; got != RoutingAll {
		t.Errorf("routing = %q, want %q", got, RoutingAll)
	}
	if got := cfg.Sources[0].MappedStreams[0]; got != (Mapping{Event: "User Registered", Stream: "new_users"}) {
		t.Errorf("mapping[0] = %+v", got)
	}
	if got := cfg.Delivery.Backoff.MaxElapsed; got != 0 {
		t.Errorf("max_elapsed = %s, want 0 (retry forever)", got)
	}
}

func TestExampleIsValidAndMatchesDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	// The example documents every default; if a default changes, the
	// example must change with it.
	if cfg.Batch != def.Batch || cfg.Delivery != def.Delivery || cfg.Memory != def.Memory ||
		cfg.Log != def.Log || cfg.HTTP != def.HTTP || cfg.ShutdownTimeout != def.ShutdownTimeout {
		t.Errorf("example.yaml disagrees with Default():\n%+v\n%+v", cfg, def)
	}
	k, dk := cfg.Kafka, def.Kafka
	k.Brokers, dk.Brokers = nil, nil
	if fmt.Sprint(k) != fmt.Sprint(dk) {
		t.Errorf("example kafka section disagrees with defaults:\n%+v\n%+v", k, dk)
	}
}

func TestLoadReportsEveryProblemWithItsKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"testdata/invalid_unknown_keys.yaml", []string{
			"kafka.group_idd: unknown key (line 3)",
			"sources[0].mapped_stream: unknown key (line 8)",
			"sources[0].mapped_streams: at least one",
		}},
		{"testdata/invalid_values.yaml", []string{
			"kafka.brokers[0]: want host:port",
			"kafka.group_id: is required",
			"kafka.start_offset: must be earliest or latest",
			"kafka.drain_timeout: must be shorter than kafka.rebalance_timeout",
			"kafka.commit_metadata_max_bytes: must be 0 (plain commits) or between 16 and 1048576",
			"sources[0].region: \"moon-1\" is not an AWS region",
			"sources[0].role_address: \"arn:aws:iam::12:user/bob\" is not an IAM role ARN",
			"sources[0].routing: must be all or first_match",
			"sources[0].mapped_streams[0].event: is required",
			"sources[0].mapped_streams[0].stream: \"has space\" is not a Firehose delivery stream name",
			"sources[1].id: \"src_1\" is also the id of sources[0]",
			"sources[1].topics[0]: topic \"segment-events\" is already read by sources[0]",
			"batch.max_records: must be between 1 and 500",
			"batch.max_bytes: must be between",
			"batch.linger: want a duration",
			"delivery.max_in_flight: must be between 1 and 256",
			"delivery.backoff.multiplier: must be at least 1",
			"delivery.backoff.jitter: must be between 0 and 1",
			"delivery.backoff.max_elapsed: giving up on a batch needs kafka.dlq_topic",
			"memory.max_buffered_bytes: must be at least",
			"memory.soft_limit: must be 0 (automatic) or at least twice memory.max_buffered_bytes",
			"memory.gc_percent: must be -1 (collections only near the soft limit) or at least 10, got 5",
			"log.level: must be debug, info, warn or error",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.file)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "do-not-print-me") {
				t.Errorf("error leaks the secret_id:\n%s", msg)
			}
		})
	}
}

func TestParseRejectsNonMappingAndEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "- a\n- b\n", "kafka: [1, 2]\n", "sources: {a: 1}\n"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestSecretNeverFormats(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %#v %+v", s, s, s, s, s, s),
		fmt.Sprintf("%v", Source{SecretID: s}), fmt.Sprintf("%+v", Source{SecretID: s}),
	} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "68756e74657232") {
			t.Errorf("secret printed: %s", out)
		}
	}
	src := Source{ID: "a", SecretID: s, RoleAddress: "arn:aws:iam::123456789012:role/x"}
	if src.ExternalID() != "hunter2" {
		t.Errorf("ExternalID() = %q, want the secret id", src.ExternalID())
	}
	cfg := Config{Sources: []Source{src}}
	if strings.Contains(cfg.Summary(), "hunter2") {
		t.Errorf("summary leaks the secret: %s", cfg.Summary())
	}
}

func TestByteSizeAndDuration(t *testing.T) {
	t.Parallel()
	cases := map[string]ByteSize{"4194304": 4 << 20, "4MiB": 4 << 20, "512KiB": 512 << 10, "1MB": 1000000, "10 B": 10}
	for in, want := range cases {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "4XB", "1.5MiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
	cfg, err := Parse([]byte("kafka: {brokers: [\"h:1\"], commit_interval: 250ms}\nsources: [{id: a, topics: [t], region: eu-west-1, mapped_streams: [{event: '*', stream: s}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.CommitInterval.D() != 250*time.Millisecond {
		t.Errorf("commit_interval = %s", cfg.Kafka.CommitInterval)
	}
}

func TestBuiltInSandboxConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(Sandbox)
	if err != nil {
		t.Fatalf("%s: %v", SandboxName, err)
	}
	if cfg.Kafka.GroupID != "firehose-worker-sandbox" {
		t.Errorf("built-in sandbox config has group %q; is it config/sandbox.yaml?", cfg.Kafka.GroupID)
	}
}

func TestSourceInputSettings(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/valid_minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Sources[0]; s.Envelope != EnvelopeAuto || s.EnvelopeMerge || s.DefaultType != "" {
		t.Errorf("defaults: envelope %q, envelope_merge %v, default_type %q; want auto, false, empty", s.Envelope, s.EnvelopeMerge, s.DefaultType)
	}
	cfg.Sources[0].Envelope, cfg.Sources[0].DefaultType = EnvelopeNone, "track"
	if sum := cfg.Summary(); !strings.Contains(sum, " envelope=none default_type=track") {
		t.Errorf("summary does not name the input settings:\n%s", sum)
	}
	_, err = Load("testdata/invalid_inputs.yaml")
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, w := range []string{
		`sources[0].envelope: must be auto or none, got "always"`,
		`sources[0].default_type: must be empty or one of track, page, identify, group, screen, alias (lower case), got "Track"`,
		`sources[1].envelope_merge: merges the fields of batch envelopes, which envelope: none does not split`,
		`sources[1].default_type: must be empty or one of`,
		`sources[2].envelope_merge: cannot unmarshal`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
}
