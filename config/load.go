package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path over Default, replaces ${VAR} in its
// values from the process environment, rejects unknown keys, and validates
// the result. Every problem found is reported, each as "key: reason",
// joined into one error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Parse is Load for bytes already read.
func Parse(data []byte) (*Config, error) {
	return ParseEnv(data, os.LookupEnv)
}

// ParseEnv is Parse with the environment read through env.
func ParseEnv(data []byte, env LookupEnv) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("config is empty")
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: want a mapping at the top level (line %d)", doc.Line)
	}
	cfg := Default()
	var problems []error
	interpolate(doc, "", env, map[*yaml.Node]bool{}, &problems)
	decodeInto(doc, reflect.ValueOf(&cfg).Elem(), "", &problems)
	cfg.applySourceDefaults()
	// Validation runs even after decode problems: a misspelt key is often
	// also a missing required one, and the user should see both at once.
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return &cfg, nil
}

func (c *Config) applySourceDefaults() {
	for i := range c.Sources {
		if c.Sources[i].Routing == "" {
			c.Sources[i].Routing = RoutingAll
		}
		if c.Sources[i].Envelope == "" {
			c.Sources[i].Envelope = EnvelopeAuto
		}
	}
}

// decodeInto decodes n into v field by field, so that every unknown key and
// every ill-typed value is reported with its full path ("sources[0].region")
// instead of the decoder stopping at the first. A typo such as
// "mapped_stream" names itself instead of silently doing nothing.
func decodeInto(n *yaml.Node, v reflect.Value, path string, problems *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if v.Kind() == reflect.Struct && !isLeaf(v) {
		if n.Kind != yaml.MappingNode {
			*problems = append(*problems, fmt.Errorf("%s: want a mapping (line %d)", orTop(path), n.Line))
			return
		}
		fields := yamlFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			idx, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, fmt.Errorf("%s: unknown key (line %d)", key, k.Line))
				continue
			}
			decodeInto(val, v.Field(idx), key, problems)
		}
		return
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		if n.Kind != yaml.SequenceNode {
			*problems = append(*problems, fmt.Errorf("%s: want a list (line %d)", path, n.Line))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeInto(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), problems)
		}
		v.Set(s)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		*problems = append(*problems, fmt.Errorf("%s: %s (line %d)", path, typeErrorText(err), n.Line))
	}
}

// isLeaf reports struct types that decode themselves from a scalar.
func isLeaf(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(yaml.Unmarshaler)
	return ok
}

var linePrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\n\s*)?line \d+: `)

func typeErrorText(err error) string {
	return linePrefix.ReplaceAllString(err.Error(), "")
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func yamlFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = i
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
