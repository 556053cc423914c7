package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wrpc-kv/gateway/auth"
)

// runToken is `gateway token new --id ID [--expires D] [--rate-limit R:B] PERMISSION...`: it
// prints a fresh token, once, and the entry of the auth file that accepts it.
func runToken(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprintln(errOut, "usage: gateway token new --id ID [--expires 720h|2027-06-30T00:00:00Z] [--rate-limit 20:40] PERMISSION...")
		return 2
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(errOut)
	id := fs.String("id", "", "the token's id: names it in the auth file, logs and errors (A-Z a-z 0-9 _ -)")
	expires := fs.String("expires", "", "when the token stops working: a duration from now (720h) or a time (RFC 3339)")
	var limit rateFlag
	fs.Var(&limit, "rate-limit", "the token's rate limit, `requests-per-second:burst`")
	fs.Usage = func() {
		fmt.Fprint(errOut, "Usage: gateway token new --id ID [flags] PERMISSION...\n\n"+
			"Prints a new API token once, and the lines to add under tokens: in the auth file\n"+
			"(--auth-file); the file keeps only the token's hash. A permission is\n"+
			"ACTIONS:BUCKET[:PREFIX], e.g. read:users, write:cache:sessions/, '*:tmp-*'.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(errOut, "gateway token new: %v\n", err); return 2 }
	if fs.NArg() == 0 {
		return fail(errors.New("give at least one permission, e.g. read:users"))
	}
	perms, err := auth.ParsePermissions(fs.Args())
	if err != nil {
		return fail(err)
	}
	var exp time.Time
	if *expires != "" {
		if d, err := time.ParseDuration(*expires); err == nil && d > 0 {
			exp = time.Now().Add(d).UTC().Truncate(time.Second)
		} else if exp, err = time.Parse(time.RFC3339, *expires); err != nil {
			return fail(fmt.Errorf("--expires %q: want a positive duration or an RFC 3339 time", *expires))
		}
	}
	token, hash, err := auth.NewToken(*id)
	if err != nil {
		return fail(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The token, shown this once (the auth file keeps only its hash):\n#   %s\n", token)
	fmt.Fprintf(&b, "# Add under tokens: in the auth file:\n  - id: %s\n    hash: %s\n", *id, hash)
	if !exp.IsZero() {
		fmt.Fprintf(&b, "    expires: %s\n", exp.Format(time.RFC3339))
	}
	b.WriteString("    permissions:\n")
	for _, p := range perms {
		fmt.Fprintf(&b, "      - %q\n", p.String())
	}
	if limit.set {
		fmt.Fprintf(&b, "    rate_limit: {per_second: %g, burst: %d}\n", limit.l.PerSecond, limit.l.Burst)
	}
	_, _ = io.WriteString(out, b.String())
	return 0
}

// rateFlag is a rate limit flag: requests-per-second:burst (burst defaults to twice the rate).
type rateFlag struct {
	l   auth.Limit
	set bool
}

func (r *rateFlag) String() string {
	if !r.set {
		return ""
	}
	return fmt.Sprintf("%g:%d", r.l.PerSecond, r.l.Burst)
}

func (r *rateFlag) Set(s string) error {
	rps, burst, hasBurst := strings.Cut(s, ":")
	var l auth.Limit
	if _, err := fmt.Sscan(rps, &l.PerSecond); err != nil || l.PerSecond <= 0 {
		return fmt.Errorf("want requests-per-second[:burst], such as 20:40, got %q", s)
	}
	l.Burst = max(1, int(2*l.PerSecond))
	if hasBurst {
		if _, err := fmt.Sscan(burst, &l.Burst); err != nil || l.Burst < 1 {
			return fmt.Errorf("want requests-per-second[:burst], such as 20:40, got %q", s)
		}
	}
	r.l, r.set = l, true
	return nil
}
