package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// HOOKSTREAM_CPU_PROFILE: a profile (gzip-compressed protobuf, as pprof
// writes it) is on disk once the run stops; without a path nothing is
// written, and an unwritable path is reported, not fatal.
func TestCPUProfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cpu.pprof")
	var stderr bytes.Buffer
	stop := cpuProfile(path, &stderr)
	sum := sha256.Sum256(nil)
	for range 20000 { // some CPU to sample
		sum = sha256.Sum256(sum[:])
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile %d bytes (%v), want a gzip stream", len(b), err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}

	cpuProfile("", &stderr)()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files after an empty path, want only the first profile", len(entries))
	}

	cpuProfile(filepath.Join(dir, "missing", "cpu.pprof"), &stderr)()
	if !bytes.Contains(stderr.Bytes(), []byte("no CPU profile")) {
		t.Errorf("unwritable path not reported: %q", stderr.String())
	}
}
