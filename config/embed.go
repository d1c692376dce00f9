package config

import _ "embed"

// Sandbox is config/sandbox.yaml, built into the binary so that
// `firehose-worker sandbox` starts anywhere, including from a downloaded
// binary or the container image, where no repository is at hand.
//
//go:embed sandbox.yaml
var Sandbox []byte

// SandboxName is how messages name the built-in sandbox configuration.
const SandboxName = "built-in config/sandbox.yaml"
