package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadSecret reads a secret from the environment variable named env or, when
// env is empty, from file: key is the configuration key of the pair without
// its _env/_file suffix ("kafka.sasl.password"), for errors. Errors name the
// key, the variable or the path and the reason, never the value. One trailing
// line break of a file is not part of the secret: files written by echo or an
// editor end in one; anything else, spaces included, is.
func ReadSecret(key, env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is not set or empty", key, env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%s_file: reading %s: %w", key, file, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s_file: %s is empty", key, file)
	}
	return v, nil
}

// ResolveSecrets reads every sources[].secret_id_env and secret_id_file into
// SecretID, so that ExternalID returns the secret. The worker calls it at
// start, after Load; `check` without --connect does not, because it often
// runs where the secrets are not. Every problem is reported, joined.
func (c *Config) ResolveSecrets() error {
	var problems []error
	for i := range c.Sources {
		if err := c.ResolveSecretID(i); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// ResolveSecretID is ResolveSecrets for sources[i] alone.
func (c *Config) ResolveSecretID(i int) error {
	s := &c.Sources[i]
	if s.SecretIDEnv == "" && s.SecretIDFile == "" {
		return nil
	}
	v, err := ReadSecret(fmt.Sprintf("sources[%d].secret_id", i), s.SecretIDEnv, s.SecretIDFile)
	if err != nil {
		return err
	}
	s.SecretID = Secret(v)
	return nil
}
