package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/node"
)

const adminUsage = `Usage: emporium admin <command> [flags]

Commands:
  create-user   create a verified account, e.g. an administrator

Run 'emporium admin create-user --help' for its flags.
`

// admin runs an operator command against the stores named by the settings.
func admin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stderr, adminUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "create-user":
		return createUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "emporium admin: unknown command %q\n\n%s", args[0], adminUsage)
		return errUsage
	}
}

// createUser creates a verified account with roles. The password is read
// from standard input, so that it shows neither in the process list nor in
// the shell's history.
func createUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emporium admin create-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "the account's username (required)")
	email := fs.String("email", "", "the account's email address (required)")
	var roles stringList
	fs.Var(&roles, "role", "a role to grant: admin or vendor (repeatable); every account is a customer")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: echo \"$PASSWORD\" | emporium admin create-user --username NAME --email ADDRESS [--role admin]\n\n"+
			"Creates a verified account. The password is read from standard input. With the embedded store, run it\n"+
			"while no server uses the same DATA_DIR. The node settings (DATA_DIR, MONGODB_URI, ...) apply.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg node.Config
	if err := parseSettings(&cfg, fs, args, getenv); err != nil {
		return ignoreHelp(err)
	}
	if *username == "" || *email == "" {
		fmt.Fprintln(stderr, "emporium admin create-user: --username and --email are required")
		return errUsage
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the password from standard input: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")
	if password == "" {
		return errors.New("no password on standard input; pipe it in (echo \"$PASSWORD\" | emporium admin create-user ...)")
	}

	cfg.HTTPAddr = "" // not served
	logger := cfg.NewLogger(stderr)
	n := node.New(cfg, logger)
	if err := n.OpenForAdmin(ctx); err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = n.Close(closeCtx)
	}()
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	acc, err := n.Accounts.CreateUser(callCtx, *username, *email, password, roles)
	if err != nil {
		if fields := emporium.ErrorFields(err); len(fields) > 0 {
			var b strings.Builder
			for _, f := range fields {
				fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
			}
			return fmt.Errorf("cannot create the user:%s", b.String())
		}
		return fmt.Errorf("cannot create the user: %s", emporium.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "created user %s (%s) with roles %s\n", acc.ID, acc.Email, strings.Join(acc.Roles, ", "))
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
