//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// Defaults of the environment knobs; scripts/kafka.sh and scripts/aws.sh use
// the same ports.
const (
	defaultKafka  = "127.0.0.1:19092"
	defaultAWS    = "http://127.0.0.1:14566"
	defaultBucket = "firehose-worker-e2e"
	// account is where moto keeps everything made with test/test keys; roles
	// must live in it too, or their credentials act in an empty account.
	account = "123456789012"
	region  = "us-west-2"
)

var (
	// binary is the firehose-worker built once for every test.
	binary string
	// runID makes this run's topics, groups, streams and roles unique.
	runID string
	// repoRoot is the module root, where scripts/ lives.
	repoRoot string

	kafkaAddr = envOr("FHW_E2E_KAFKA", defaultKafka)
	awsURL    = strings.TrimRight(envOr("FHW_E2E_AWS", defaultAWS), "/")
	bucket    = envOr("FHW_E2E_BUCKET", defaultBucket)
	reportDir = os.Getenv("E2E_REPORT_DIR")

	// brokerLock keeps the broker-restart test apart from every other test:
	// it takes the write lock, the others a read lock. Go already runs
	// parallel tests only after the serial ones, so this is a guard against
	// reordering rather than the mechanism.
	brokerLock sync.RWMutex
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	id := make([]byte, 3)
	_, _ = rand.Read(id)
	runID = time.Now().UTC().Format("0102150405") + hex.EncodeToString(id)

	dir, err := os.MkdirTemp("", "fhw-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var flags []string
	if os.Getenv("FHW_E2E_RACE") == "1" {
		flags = append(flags, "-race")
	}
	if binary, err = itest.BuildWorker(dir, flags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if reportDir != "" {
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "E2E_REPORT_DIR: %v\n", err)
			return 1
		}
	}
	fmt.Printf("e2e run %s: Kafka %s, AWS %s, bucket %s\n", runID, kafkaAddr, awsURL, bucket)
	return m.Run()
}

// name returns a name unique to this run and test, e.g. e2e-1125223501ab12cd-dlv-pages.
func name(test string, parts ...string) string {
	return strings.Join(append([]string{"e2e", runID, test}, parts...), "-")
}
