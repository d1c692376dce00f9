package itest

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// workerPackage is the main package of the binary; built by import path, it
// builds from any directory of the module.
const workerPackage = "github.com/firehose-worker/firehose-worker/worker"

// BuildWorker compiles the firehose-worker binary into dir with extra go
// build flags (such as -race) and returns its path. Tests that drive the
// worker as a subprocess call it once, from TestMain.
func BuildWorker(dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "firehose-worker")
	args := append(append([]string{"build", "-o", bin}, flags...), workerPackage)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building firehose-worker: %w\n%s", err, out)
	}
	return bin, nil
}
