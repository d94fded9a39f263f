// Command mkbuyers creates many verified buyer accounts in a node's stores
// before the node serves, for tools/orderload/bench.sh: the rush needs
// 10,000 buyers, and `emporium admin create-user` takes a process (about a
// second) per account. It opens the stores as that command does
// (node.OpenForAdmin: no HTTP, run it while no server uses DATA_DIR) and
// creates buyer0@example.com ... buyer<N-1>@example.com, all with one
// password read from standard input. The node settings (DATA_DIR, ...) are
// read from the environment.
//
//	echo "$PW" | DATA_DIR=... mkbuyers -n 10000 -prefix buyer
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkbuyers:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("mkbuyers", flag.ContinueOnError)
	count := fs.Int("n", 100, "how many buyers to create")
	prefix := fs.String("prefix", "buyer", "username and email prefix: <prefix><i>@example.com")
	workers := fs.Int("workers", 8, "accounts created at a time (each hashes its password)")
	var cfg node.Config
	if err := cfg.Parse(fs, os.Args[1:], os.Getenv); err != nil {
		return err
	}
	password, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	password = strings.TrimRight(password, "\r\n")
	if password == "" {
		return errors.New("no password on standard input")
	}
	cfg.HTTPAddr = ""
	ctx := context.Background()
	n := node.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := n.OpenForAdmin(ctx); err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = n.Close(closeCtx)
	}()

	start := time.Now()
	next := make(chan int)
	var done atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range *workers {
		wg.Go(func() {
			for i := range next {
				name := fmt.Sprintf("%s%d", *prefix, i)
				var err error
				for try := 0; try < 5; try++ {
					callCtx, cancel := context.WithTimeout(ctx, time.Minute)
					_, err = n.Accounts.CreateUser(callCtx, name, name+"@example.com", password, nil)
					cancel()
					if err == nil || !emporium.IsCode(err, emporium.EUNAVAILABLE) {
						break
					}
					time.Sleep(time.Second)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create %s: %s", name, emporium.ErrorMessage(err))
					}
					mu.Unlock()
					continue
				}
				if d := done.Add(1); d%1000 == 0 {
					fmt.Fprintf(os.Stderr, "mkbuyers: %d accounts in %s\n", d, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	for i := range *count {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(os.Stderr, "mkbuyers: %d accounts in %s\n", *count, time.Since(start).Round(time.Millisecond))
	return nil
}
