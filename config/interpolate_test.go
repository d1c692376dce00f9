package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// env is a LookupEnv over a map, so tests need not touch the process
// environment and can run in parallel.
func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const interpolated = `kafka:
  brokers: ["${BROKER}", "${BROKER2:-b2:9092}"]
  group_id: ${GROUP:-fallback-group}
  dlq_topic: "$${literal}"
  max_pending_per_partition: ${PENDING:-2000}
  tls:
    enabled: ${TLS_ON}
sources:
  - id: &sid ${SOURCE_ID}
    topics: ["events-${ENVIRONMENT}"]
    region: ${REGION:-us-east-1}
    role_address: arn:aws:iam::123456789012:role/${ROLE}
    secret_id_env: SEGMENT_SECRET
    mapped_streams:
      - {event: "*", stream: "all-${ENVIRONMENT}"}
      - {event: pa$e, stream: *sid}
`

func TestInterpolationReplacesValues(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(interpolated, `"$${literal}"`, `""`, 1)
	cfg, err := ParseEnv([]byte(doc), env(map[string]string{
		"BROKER": "b1:9092", "GROUP": "", "PENDING": "7", "TLS_ON": "true",
		"SOURCE_ID": "src-a", "ENVIRONMENT": "prod", "ROLE": "writer",
	}))
	if err != nil {
		t.Fatal(err)
	}
	k, s := cfg.Kafka, cfg.Sources[0]
	for _, c := range []struct{ name, got, want string }{
		{"brokers[0]", k.Brokers[0], "b1:9092"},
		{"brokers[1] default", k.Brokers[1], "b2:9092"},
		{"group_id default when empty", k.GroupID, "fallback-group"},
		{"id", s.ID, "src-a"},
		{"topic", s.Topics[0], "events-prod"},
		{"region default", s.Region, "us-east-1"},
		{"role", s.RoleAddress, "arn:aws:iam::123456789012:role/writer"},
		{"stream", s.MappedStreams[0].Stream, "all-prod"},
		{"a $ before a letter stays", s.MappedStreams[1].Event, "pa$e"},
		{"an alias sees the replaced anchor", s.MappedStreams[1].Stream, "src-a"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if k.MaxPendingPerPartition != 7 || !k.TLS.Enabled {
		t.Errorf("unquoted values are not typed after replacement: max_pending=%d tls.enabled=%v", k.MaxPendingPerPartition, k.TLS.Enabled)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	e := env(map[string]string{"A": "x", "EMPTY": "", "B": "${A}"})
	for in, want := range map[string]string{
		"$$":                  "$",
		"$${A}":               "${A}",
		"$$$${A}":             "$${A}",
		"a$":                  "a$",
		"${A}${A}":            "xx",
		"${EMPTY}":            "",
		"${EMPTY:-d}":         "d",
		"${UNSET:-}":          "",
		"${UNSET:-a:-b c}":    "a:-b c",
		"${B}":                "${A}", // a value is not expanded again
		"pre-${A}-post $x $1": "pre-x-post $x $1",
	} {
		got, err := expand(in, e)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${UNSET}", "${A", "${}", "${1A}", "${A B}", "${A:+x}"} {
		if got, err := expand(in, e); err == nil {
			t.Errorf("expand(%q) = %q, want an error", in, got)
		}
	}
}

func TestInterpolationProblemsNameKeyAndVariable(t *testing.T) {
	t.Parallel()
	_, err := ParseEnv([]byte(interpolated), env(map[string]string{"ENVIRONMENT": "p", "ROLE": "r", "TLS_ON": "hunter2-not-a-bool"}))
	if err == nil {
		t.Fatal("want errors for unset variables")
	}
	msg := err.Error()
	for _, want := range []string{
		"kafka.brokers[0]: environment variable BROKER is not set",
		"sources[0].id: environment variable SOURCE_ID is not set",
		"kafka.tls.enabled: ", // a replaced value that is not a bool is an ordinary type error
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// $$ made "${literal}" a plain value: not a variable, and not a valid
	// topic name either, which validation reports as usual.
	if strings.Contains(msg, "literal is not set") || !strings.Contains(msg, `kafka.dlq_topic: "${literal}" is not a valid Kafka topic name`) {
		t.Errorf("$$ was not a literal $:\n%s", msg)
	}
}

func TestInterpolationNeverInKeysNorEchoesValues(t *testing.T) {
	t.Parallel()
	doc := "kafka: {brokers: [\"h:1\"]}\n${KEY}: 1\nsources: [{id: a, topics: [t], region: eu-west-1, role_address: \"arn:aws:iam::123456789012:role/r\", secret_id: \"s3cr3t${oops\", mapped_streams: [{event: '*', stream: s}]}]\n"
	_, err := ParseEnv([]byte(doc), env(map[string]string{"KEY": "shutdown_timeout"}))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	if !strings.Contains(msg, "${KEY}: unknown key") {
		t.Errorf("a ${VAR} in a key was replaced, or not reported as unknown:\n%s", msg)
	}
	if !strings.Contains(msg, "sources[0].secret_id: a ${ has no closing }") || strings.Contains(msg, "s3cr3t") {
		t.Errorf("want the unclosed ${ reported without the value:\n%s", msg)
	}
}

func TestSecretIDFromEnvAndFile(t *testing.T) {
	// Not parallel: t.Setenv.
	dir := t.TempDir()
	file := filepath.Join(dir, "secret-id")
	if err := os.WriteFile(file, []byte("from-file-hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FHW_TEST_SECRET_ID", "from-env-hunter2")
	doc := `kafka: {brokers: ["h:1"]}
sources:
  - {id: a, topics: [a], region: eu-west-1, role_address: "arn:aws:iam::123456789012:role/r", secret_id_env: FHW_TEST_SECRET_ID, mapped_streams: [{event: '*', stream: s}]}
  - {id: b, topics: [b], region: eu-west-1, role_address: "arn:aws:iam::123456789012:role/r", secret_id_file: ` + file + `, mapped_streams: [{event: '*', stream: s}]}
  - {id: c, topics: [c], region: eu-west-1, role_address: "arn:aws:iam::123456789012:role/r", mapped_streams: [{event: '*', stream: s}]}
`
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sources[0].ExternalID(); got != "a" {
		t.Fatalf("before ResolveSecrets ExternalID = %q", got)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"from-env-hunter2", "from-file-hunter2", "c"} {
		if got := cfg.Sources[i].ExternalID(); got != want {
			t.Errorf("sources[%d].ExternalID() = %q, want %q", i, got, want)
		}
	}
	sum := cfg.Summary()
	if strings.Contains(sum, "hunter2") || !strings.Contains(sum, "external_id=secret_id_env FHW_TEST_SECRET_ID") || !strings.Contains(sum, "external_id=secret_id_file "+file) {
		t.Errorf("summary:\n%s", sum)
	}

	t.Setenv("FHW_TEST_SECRET_ID", "")
	if err := os.WriteFile(file, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = cfg.ResolveSecrets()
	if err == nil {
		t.Fatal("want errors for an empty variable and an empty file")
	}
	for _, want := range []string{
		"sources[0].secret_id_env: environment variable FHW_TEST_SECRET_ID is not set or empty",
		"sources[1].secret_id_file: " + file + " is empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

func TestSecretIDSourcesValidated(t *testing.T) {
	t.Parallel()
	doc := `kafka: {brokers: ["h:1"]}
sources:
  - {id: a, topics: [a], region: eu-west-1, secret_id_env: X, mapped_streams: [{event: '*', stream: s}]}
  - {id: b, topics: [b], region: eu-west-1, role_address: "arn:aws:iam::123456789012:role/r", secret_id: x, secret_id_file: /nonexistent/secret, mapped_streams: [{event: '*', stream: s}]}
  - {id: c, topics: [c], region: eu-west-1, role_address: "arn:aws:iam::123456789012:role/r", secret_id_env: "hunter2 pasted", mapped_streams: [{event: '*', stream: s}]}
`
	_, err := ParseEnv([]byte(doc), env(nil))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"sources[0].secret_id_env: is only used as the External ID of role_address, which is empty",
		"sources[1].secret_id: the secret ID is given 2 ways (secret_id, secret_id_file); keep exactly one",
		"sources[1].secret_id_file: cannot read /nonexistent/secret: no such file or directory",
		"sources[2].secret_id_env: is not an environment variable name",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error echoes the value of secret_id_env:\n%s", msg)
	}
}

func TestInterpolatedNumberIntoAStringStaysText(t *testing.T) {
	t.Parallel()
	doc := "kafka:\n  brokers: [\"h:1\"]\n  group_id: ${G}\nsources:\n  - id: ${ID}\n    topics: [\"${T}\"]\n    region: eu-west-1\n    mapped_streams: [{event: '*', stream: \"${S}\"}]\n"
	cfg, err := ParseEnv([]byte(doc), env(map[string]string{"G": "123", "ID": "true", "T": "1.50", "S": "007"}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	if cfg.Kafka.GroupID != "123" || s.ID != "true" || s.Topics[0] != "1.50" || s.MappedStreams[0].Stream != "007" {
		t.Errorf("group %q, id %q, topic %q, stream %q: want the variables' text as written", cfg.Kafka.GroupID, s.ID, s.Topics[0], s.MappedStreams[0].Stream)
	}
}
