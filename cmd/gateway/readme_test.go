package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeExample is one command of a ```console block in README.md and the output it shows.
type readmeExample struct {
	line    int
	command string
	want    []string // "..." stands for any number of lines
}

// readmeExamples reads the ```console blocks of README.md: lines starting with "$ " are
// commands (a trailing backslash continues one), the lines after them their output.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeExample
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "```console":
			in = true
		case in && line == "```":
			in = false
		case in && strings.HasPrefix(line, "$ "):
			out = append(out, readmeExample{line: n, command: strings.TrimPrefix(line, "$ ")})
		case in && len(out) > 0 && strings.HasSuffix(out[len(out)-1].command, "\\"):
			out[len(out)-1].command += "\n" + line
		case in && len(out) > 0:
			out[len(out)-1].want = append(out[len(out)-1].want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// matches compares output lines with the wanted ones, where "..." matches any lines.
func matches(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matches(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matches(got[1:], want[1:])
}

// TestReadmeExamples runs the README's curl examples, in order, against a gateway started
// with its defaults on a fresh data directory, and compares what they print.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	if len(examples) < 20 {
		t.Fatalf("found %d examples in README.md; the console blocks seem to be gone", len(examples))
	}
	gw := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	for _, ex := range examples {
		cmd := strings.ReplaceAll(ex.command, "http://127.0.0.1:8080", gw.url)
		c := exec.Command("bash", "-c", cmd)
		c.Dir = "../.." // examples may name files of the repository
		out, err := c.CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", ex.line, ex.command, err, out)
			continue
		}
		got := strings.Split(strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
		if len(out) == 0 {
			got = nil
		}
		if !matches(got, ex.want) {
			t.Errorf("README.md:%d: %s\nprinted:\n%s\nREADME shows:\n%s", ex.line, ex.command,
				strings.Join(got, "\n"), strings.Join(ex.want, "\n"))
		}
	}
}
