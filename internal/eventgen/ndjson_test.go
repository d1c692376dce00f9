package eventgen

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadNDJSON(t *testing.T) {
	big := `{"k":"` + strings.Repeat("x", 3<<20) + `"}`
	errStop := errors.New("stop")
	for _, tc := range []struct {
		name    string
		input   string
		fnErr   error // returned by fn for the second line
		want    []string
		wantErr string
		is      error
	}{
		{
			name:  "blank lines, whitespace lines, CRLF and no final newline",
			input: "{\"a\":1}\r\n\r\n   \n\t\n[1,2]\n\"s\"",
			want:  []string{`{"a":1}`, `[1,2]`, `"s"`},
		},
		{
			name:  "empty input",
			input: "",
		},
		{
			name:  "a line of several MiB",
			input: "{}\n" + big + "\n{}\n",
			want:  []string{`{}`, big, `{}`},
		},
		{
			name:    "invalid JSON names its line",
			input:   "{}\n\n{\"a\":}\n{}\n",
			want:    []string{`{}`},
			wantErr: "line 3: invalid JSON at byte 6",
		},
		{
			name:    "a truncated object",
			input:   "{\"a\":1",
			wantErr: "line 1: invalid JSON",
		},
		{
			name:    "a line beyond MaxLineBytes",
			input:   "{}\n\"" + strings.Repeat("x", MaxLineBytes) + "\"\n",
			want:    []string{`{}`},
			wantErr: "line 2: longer than",
			is:      bufio.ErrTooLong,
		},
		{
			name:    "an error from fn stops the read",
			input:   "{}\n\n[]\n{}\n",
			fnErr:   errStop,
			want:    []string{`{}`, `[]`},
			wantErr: "line 3: stop",
			is:      errStop,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ReadNDJSON(strings.NewReader(tc.input), func(line []byte) error {
				got = append(got, string(line))
				if len(got) == 2 {
					return tc.fnErr
				}
				return nil
			})
			if len(got) != len(tc.want) {
				t.Fatalf("got %d lines, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("line %d: got %.40q, want %.40q", i, got[i], tc.want[i])
				}
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestReadNDJSONFiles(t *testing.T) {
	t.Run("golden", func(t *testing.T) {
		want, _, _ := generate(t, Options{Seed: 42}, 100)
		f, err := os.Open(filepath.Join("testdata", "seed42.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		i := 0
		err = ReadNDJSON(f, func(line []byte) error {
			if !bytes.Equal(line, want[i]) {
				t.Errorf("line %d differs from the generator's message", i+1)
			}
			i++
			return nil
		})
		if err != nil || i != len(want) {
			t.Fatalf("read %d lines, err %v; want %d lines", i, err, len(want))
		}
	})
	t.Run("invalid", func(t *testing.T) {
		f, err := os.Open(filepath.Join("testdata", "invalid.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		err = ReadNDJSON(f, func([]byte) error { n++; return nil })
		if n != 2 || err == nil || !strings.HasPrefix(err.Error(), "line 4: invalid JSON") {
			t.Fatalf("read %d lines, then %v; want 2 lines, then an error on line 4", n, err)
		}
	})
}
