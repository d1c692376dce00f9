package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/firehose-worker/firehose-worker/config"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	cfg, path, code := loadConfig("check", args, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s is valid\n%s", path, cfg.Summary())
	return 0
}

// loadConfig parses the --config flag of cmd and loads the file. On failure
// it reports every problem, one "key: reason" per line, and returns a nil
// config with the exit code to use.
func loadConfig(cmd string, args []string, stderr io.Writer) (*config.Config, string, int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path to the YAML configuration")
	if err := fs.Parse(args); err != nil {
		return nil, "", 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", *path, indent(err.Error()))
		return nil, *path, 1
	}
	return cfg, *path, 0
}

// indent indents every line of s by two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
