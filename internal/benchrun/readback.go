package main

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ReadBack is what reading a stream's S3 objects back found.
type ReadBack struct {
	Objects int64 `json:"objects"`
	Lines   int64 `json:"lines"`
	// Expected lines: the produced messages, compacted.
	Expected int64 `json:"expected"`
	// Missing produced lines not found; Extra lines found that were not
	// produced, or found more often than produced (duplicates).
	Missing int64 `json:"missing"`
	Extra   int64 `json:"extra"`
	// UnterminatedObjects end without '\n' (a record split in two).
	UnterminatedObjects int64 `json:"unterminated_objects"`
	Match               bool  `json:"match"`

	hashes []uint64
}

// readBack reads every object below dir (one stream's objects, laid out as
// Firehose lays them out in S3) and hashes each line, sorted.
func readBack(dir string, seed maphash.Seed) (*ReadBack, error) {
	rb := &ReadBack{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".tmp" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rb.Objects++
		if len(data) > 0 && data[len(data)-1] != '\n' {
			rb.UnterminatedObjects++
		}
		for line := range bytes.Lines(data) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			rb.Lines++
			rb.hashes = append(rb.hashes, maphash.Bytes(seed, line))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading objects back: %w", err)
	}
	slices.Sort(rb.hashes)
	return rb, nil
}
