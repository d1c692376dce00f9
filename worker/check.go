package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/firehose-worker/firehose-worker/config"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path to the YAML configuration")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", *path, indent(err.Error()))
		return 1
	}
	fmt.Fprintf(stdout, "%s is valid\n%s", *path, cfg.Summary())
	return 0
}

func indent(s string) string {
	out := "  "
	for _, c := range s {
		out += string(c)
		if c == '\n' {
			out += "  "
		}
	}
	return out
}
