package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LookupEnv is how Parse reads the environment for ${VAR} in values;
// os.LookupEnv in production, a map in tests.
type LookupEnv func(name string) (string, bool)

// interpolate replaces, in every scalar value under n (never in a key):
//
//	${NAME}          the value of NAME; an error when NAME is not set
//	${NAME:-text}    the value of NAME, or text when NAME is unset or empty
//	$$               a literal $
//
// A $ followed by anything else is kept as it is, so a password such as
// "pa$word" written in the file needs no escaping. The replacement is text:
// it is never parsed as YAML, so a variable cannot add keys or change the
// shape of the file. An unquoted value is typed after replacement, so
// "max_in_flight: ${INFLIGHT:-16}" is a number.
//
// Problems are reported with the key path and the variable's name, never
// with the variable's value, which may be a secret.
func interpolate(n *yaml.Node, path string, env LookupEnv, seen map[*yaml.Node]bool, problems *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	// An anchor's node is reached once per alias; replacing twice would
	// turn "$$" into "$" and then read that "$" again.
	if seen[n] {
		return
	}
	seen[n] = true
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			interpolate(c, path, env, seen, problems)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			interpolate(n.Content[i+1], join(path, n.Content[i].Value), env, seen, problems)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			interpolate(c, fmt.Sprintf("%s[%d]", path, i), env, seen, problems)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		out, err := expand(n.Value, env)
		if err != nil {
			*problems = append(*problems, fmt.Errorf("%s: %w (line %d)", orTop(path), err, n.Line))
			return
		}
		n.Value = out
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
			// Let the decoder type the replaced text as it would have typed
			// it written out: true, 16, 250ms.
			n.Tag = ""
		}
	}
}

// expand applies the substitutions of interpolate to one value.
func expand(s string, env LookupEnv) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("a ${ has no closing }; write $$ for a literal $")
		}
		expr := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDefault := strings.Cut(expr, ":-")
		if !envNameRE.MatchString(name) {
			// Not echoed: in a secret's value this text may be the secret.
			return "", fmt.Errorf("a ${...} does not hold an environment variable name (letters, digits and _, not starting with a digit); write ${NAME} or ${NAME:-default}, or $$ for a literal $")
		}
		v, ok := env(name)
		switch {
		case hasDefault && v == "":
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			return "", fmt.Errorf("environment variable %s is not set (${%s} has no default; write ${%s:-default} to give one)", name, name, name)
		}
	}
}
