package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// envNames are flags whose environment variable is a well-known name rather
// than HOOKSTREAM_<FLAG>.
var envNames = map[string]string{
	"database-url": "DATABASE_URL",
	"nats-url":     "NATS_URL",
}

// envAliases are further variables that set a flag when its own variable
// is unset: names the original system's users already configure. The flag
// on the command line wins, then its own variable, then the aliases in
// order.
var envAliases = map[string][]string{
	"cors-origins": {"CORS_ORIGINS"},
}

// envVarsOf lists the environment variables of a flag, the winning one
// first.
func envVarsOf(flagName string) []string {
	return append([]string{envName(flagName)}, envAliases[flagName]...)
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	if n, ok := envNames[flagName]; ok {
		return n
	}
	return "HOOKSTREAM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlags makes a flag set whose usage lists each flag's environment variable.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hookstream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hookstream %s\n\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(fs.Output(), "  --%s\n      %s%s [env %s]\n", f.Name, f.Usage, def, strings.Join(envVarsOf(f.Name), ", then "))
		})
	}
	return fs
}

// parse parses args, then fills every flag not given on the command line from
// its environment variable. --help prints usage to stdout and returns errHelp.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return errHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		for _, name := range envVarsOf(f.Name) {
			if v := os.Getenv(name); v != "" {
				if e := fs.Set(f.Name, v); e != nil {
					err = fmt.Errorf("%s=%q: %w", name, v, e)
				}
				return
			}
		}
	})
	return err
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitVerb takes the verb off a command's arguments ("rules add" when the
// first word is one of groups). With no verb or --help it prints usage and
// returns errUsage or errHelp.
func splitVerb(args []string, usage string, stdout, stderr io.Writer, groups ...string) (string, []string, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "Usage: hookstream "+usage)
		if len(args) == 0 {
			return "", nil, errUsage
		}
		return "", nil, errHelp
	}
	verb, rest := args[0], args[1:]
	for _, g := range groups {
		if verb == g {
			if len(rest) == 0 {
				fmt.Fprintln(stderr, "Usage: hookstream "+usage)
				return "", nil, errUsage
			}
			return g + " " + rest[0], rest[1:], nil
		}
	}
	return verb, rest, nil
}

// parseWithID parses a verb's flags around one positional id, which may come
// before the flags (show ID --json) or after them (show --json ID).
func parseWithID(fs *flag.FlagSet, args []string, stdout io.Writer) (string, error) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args, stdout); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	return id, nil
}
