package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/firehose-worker/firehose-worker/config"
)

// composeFile is the part of docker-compose.yml the tests read. No Docker
// engine runs here, so the tests check what the file says: that it names the
// services the issue asks for, with pinned images, and that what it wires
// together agrees (config mounted into the worker, topic and streams the init
// steps create, the Dockerfile built the way the Makefile builds).
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Deploy struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	ContainerName string `yaml:"container_name"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

const repoRoot = ".."

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false) // compose has many keys this test does not model
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeServicesAndImages(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for _, name := range []string{"kafka", "localstack", "init", "init-topic", "worker", "generator"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	tagged := regexp.MustCompile(`^[a-z0-9./_-]+:[A-Za-z0-9._-]+$`)
	for name, s := range c.Services {
		if s.Build != nil {
			if s.Build.Context != "." || s.Build.Dockerfile != "scripts/Dockerfile" {
				t.Errorf("%s builds %+v, want context . and scripts/Dockerfile", name, *s.Build)
			}
		}
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s has neither image nor build", name)
		}
		if s.Image != "" && (!tagged.MatchString(s.Image) || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
		}
	}
	wantImage := map[string]string{
		"kafka":      "apache/kafka:4.1.",
		"init-topic": "apache/kafka:4.1.",
		"localstack": "localstack/localstack:4.14.0",
		"init":       "amazon/aws-cli:2.",
	}
	for name, prefix := range wantImage {
		if !strings.HasPrefix(c.Services[name].Image, prefix) {
			t.Errorf("%s image %q, want %s...", name, c.Services[name].Image, prefix)
		}
	}

	k := c.Services["kafka"]
	if k.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" || k.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("kafka is not a single KRaft node: %v", k.Environment)
	}
	if !strings.Contains(k.Environment["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT://kafka:9092") {
		t.Errorf("kafka does not advertise kafka:9092 to the other containers: %q", k.Environment["KAFKA_ADVERTISED_LISTENERS"])
	}
	ls := c.Services["localstack"]
	services := strings.Split(ls.Environment["SERVICES"], ",")
	for _, want := range []string{"firehose", "s3", "sts", "iam"} {
		if !slices.Contains(services, want) {
			t.Errorf("localstack SERVICES %q lacks %s", ls.Environment["SERVICES"], want)
		}
	}
	if !slices.Contains(ls.Ports, "4566:4566") {
		t.Errorf("localstack ports %v do not publish 4566 for awslocal", ls.Ports)
	}
	for _, name := range []string{"kafka", "localstack"} {
		if c.Services[name].Healthcheck == nil || len(c.Services[name].Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck, so service_healthy cannot work", name)
		}
	}
}

func TestComposeWorkerAndGenerator(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	w := c.Services["worker"]
	if w.Build == nil {
		t.Fatal("worker is not built from scripts/Dockerfile")
	}
	if w.Deploy.Replicas != 3 {
		t.Errorf("worker replicas = %d, want 3", w.Deploy.Replicas)
	}
	if w.ContainerName != "" {
		t.Errorf("worker sets container_name, which stops it from scaling")
	}
	for _, p := range w.Ports {
		if strings.Contains(p, ":") {
			t.Errorf("worker publishes fixed host port %q; replicas would collide", p)
		}
	}
	wantEnv := map[string]string{"AWS_ENDPOINT_URL": "http://localstack:4566", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
	for k, v := range wantEnv {
		if w.Environment[k] != v {
			t.Errorf("worker environment %s = %q, want %q", k, w.Environment[k], v)
		}
	}
	wantDeps := map[string]string{
		"kafka": "service_healthy", "localstack": "service_healthy",
		"init": "service_completed_successfully", "init-topic": "service_completed_successfully",
	}
	for dep, cond := range wantDeps {
		if got := w.DependsOn[dep].Condition; got != cond {
			t.Errorf("worker depends_on %s: condition %q, want %q", dep, got, cond)
		}
	}
	if len(w.Command) < 3 || w.Command[0] != "run" || w.Command[1] != "--config" {
		t.Fatalf("worker command %q, want run --config FILE", w.Command)
	}

	g := c.Services["generator"]
	want := []string{"produce", "--brokers", "kafka:9092", "--topic", "segment-events", "--rate", "100"}
	if !slices.Equal(g.Command, want) {
		t.Errorf("generator command %q, want %q", g.Command, want)
	}
	if g.Image != w.Image || g.Build == nil {
		t.Errorf("generator image %q, want the worker's image %q, built the same way", g.Image, w.Image)
	}
	if g.DependsOn["init-topic"].Condition != "service_completed_successfully" {
		t.Errorf("generator does not wait for the topic")
	}
	var out, errb bytes.Buffer
	// --help after the flags makes the command parse them and stop.
	code := cli(context.Background(), append(slices.Clone(g.Command), "--help"), &out, &errb)
	if code != 2 || strings.Contains(errb.String(), "not defined") || !strings.Contains(errb.String(), "usage: firehose-worker produce") {
		t.Errorf("the generator's command is not one the binary takes: exit %d\n%s", code, errb.String())
	}
}

// TestComposeMountedConfigsPassCheckAndMatchTheInitSteps runs `check` on
// every file mounted into the worker, then checks that the config consumes
// the topic init-topic creates, from the broker compose runs, into exactly
// the delivery streams init creates, in the region init creates them in.
func TestComposeMountedConfigsPassCheckAndMatchTheInitSteps(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	w := c.Services["worker"]
	configPath := w.Command[2]
	var workerConfig *config.Config
	for _, v := range w.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
			continue
		}
		src := filepath.Join(repoRoot, parts[0])
		if _, err := os.Stat(src); err != nil {
			t.Errorf("worker mounts %s, which does not exist: %v", parts[0], err)
			continue
		}
		if !strings.HasSuffix(src, ".yaml") && !strings.HasSuffix(src, ".yml") {
			continue
		}
		var out, errb bytes.Buffer
		if code := cli(context.Background(), []string{"check", "--config", src}, &out, &errb); code != 0 {
			t.Errorf("firehose-worker check --config %s = %d:\n%s", parts[0], code, errb.String())
			continue
		}
		if parts[1] == configPath {
			cfg, err := config.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			workerConfig = cfg
		}
	}
	if workerConfig == nil {
		t.Fatalf("no mounted file is the worker's --config %s", configPath)
	}
	cfg := workerConfig
	if !slices.Equal(cfg.Kafka.Brokers, []string{"kafka:9092"}) {
		t.Errorf("worker config brokers %v, want [kafka:9092]", cfg.Kafka.Brokers)
	}
	if cfg.HTTP.Address != "0.0.0.0:9464" {
		t.Errorf("worker config http.address %q, want 0.0.0.0:9464 so the published port reaches it", cfg.HTTP.Address)
	}
	topic := c.Services["init-topic"].Environment
	if !slices.Equal(cfg.Topics(), []string{topic["TOPIC"]}) || topic["PARTITIONS"] != "12" {
		t.Errorf("worker reads %v; init-topic creates %q with %s partitions, want the same topic with 12", cfg.Topics(), topic["TOPIC"], topic["PARTITIONS"])
	}
	initEnv := c.Services["init"].Environment
	created := strings.Fields(initEnv["STREAMS"])
	var mapped []string
	for _, s := range cfg.Sources {
		if s.Region != initEnv["AWS_DEFAULT_REGION"] {
			t.Errorf("source %s is in %s; init creates streams in %s", s.ID, s.Region, initEnv["AWS_DEFAULT_REGION"])
		}
		for _, m := range s.MappedStreams {
			if !slices.Contains(mapped, m.Stream) {
				mapped = append(mapped, m.Stream)
			}
		}
	}
	slices.Sort(created)
	slices.Sort(mapped)
	if !slices.Equal(created, mapped) {
		t.Errorf("init creates streams %v; the worker delivers to %v", created, mapped)
	}
	for _, name := range []string{"init", "init-topic"} {
		s := c.Services[name]
		script := s.Entrypoint[len(s.Entrypoint)-1]
		mounted := false
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == script {
				mounted = true
				if _, err := os.Stat(filepath.Join(repoRoot, parts[0])); err != nil {
					t.Errorf("%s mounts %s: %v", name, parts[0], err)
				}
			}
		}
		if !mounted {
			t.Errorf("%s runs %s, which no volume mounts", name, script)
		}
	}
}

// TestDockerfileBuildsWithTheMakefilesBuild: the image's binary comes from
// `make build`, the same recipe as a local build, and that recipe is the
// static one. make -n prints the command the Dockerfile's RUN would run.
func TestDockerfileBuildsWithTheMakefilesBuild(t *testing.T) {
	t.Parallel()
	df := readDockerfile(t)
	var froms, runs, copies []string
	user := ""
	for _, ins := range df {
		switch ins.cmd {
		case "FROM":
			froms = append(froms, ins.args)
		case "RUN":
			runs = append(runs, ins.args)
		case "COPY":
			copies = append(copies, ins.args)
		case "USER":
			user = ins.args
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:1.26") || froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %q, want golang:1.26 then gcr.io/distroless/static-debian12:nonroot", froms)
	}
	if !strings.HasPrefix(user, "nonroot") {
		t.Errorf("USER %q, want nonroot", user)
	}
	var makeRun string
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			t.Errorf("Dockerfile runs its own go build (%q) instead of make build", r)
		}
		if strings.HasPrefix(r, "make build") {
			makeRun = r
		}
	}
	if makeRun == "" {
		t.Fatalf("no RUN make build in %q", runs)
	}
	bin := regexp.MustCompile(`\bBIN=(\S+)`).FindStringSubmatch(makeRun)
	if bin == nil {
		t.Fatalf("%q does not set BIN", makeRun)
	}
	if !slices.Contains(copies, "--from=build "+bin[1]+" /firehose-worker") {
		t.Errorf("the final stage does not copy %s, the binary make build wrote: COPY %q", bin[1], copies)
	}

	recipe := makefileRecipe(t, "build")
	for _, want := range []string{"$(BUILD_ENV)", "build -trimpath", "-ldflags '$(LDFLAGS)'", "-o $(BIN)", "./worker"} {
		if !strings.Contains(recipe, want) {
			t.Errorf("Makefile build recipe %q lacks %q", recipe, want)
		}
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed; the recipe was checked as text")
	}
	cmd := exec.Command(makeBin, "-s", "-n", "build", "VERSION=v9.9.9", "BIN="+bin[1])
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	want := "CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -X main.version=v9.9.9' -o " + bin[1] + " ./worker"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("the Dockerfile's make build runs\n %s\nwant the static build\n %s", got, want)
	}
}

type dockerInstruction struct{ cmd, args string }

// readDockerfile returns the instructions of scripts/Dockerfile with
// continuation lines joined and comments dropped.
func readDockerfile(t *testing.T) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		args = strings.TrimSpace(args)
		if cmd == "FROM" {
			args, _, _ = strings.Cut(args, " ") // drop "AS name"
		}
		out = append(out, dockerInstruction{strings.ToUpper(cmd), args})
		cur.Reset()
	}
	return out
}

// makefileRecipe returns the recipe lines of target, joined.
func makefileRecipe(t *testing.T, target string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var recipe []string
	in := false
	for line := range strings.SplitSeq(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		case in:
			in = false
		}
	}
	if len(recipe) == 0 {
		t.Fatalf("Makefile has no %s recipe", target)
	}
	return strings.Join(recipe, "\n")
}
