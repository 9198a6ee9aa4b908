// Command palisade-testenv runs a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) in one process on 127.0.0.1, for
// Palisade's integration tests. See README.md.
package main

import (
	"context"
	goflag "flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

const usage = `usage:
  palisade-testenv [flags]               start a control plane; prints "READY kubeconfig=... dir=..." when ready
  palisade-testenv kubeconfig [flags]    print a kubeconfig for a user and groups of a running testenv
  palisade-testenv kubectl ARGS...       run kubectl (k8s.io/kubectl of the same release) with ARGS

Run the first two with --help for their flags; "palisade-testenv kubectl help" is kubectl's help.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kubeconfig" {
		os.Exit(mintMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(kubectlMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && (os.Args[1] == "help" || os.Args[1] == "-h") {
		fmt.Print(usage)
		return
	}
	os.Exit(runMain(os.Args[1:]))
}

type options struct {
	dir          string
	keepDir      bool
	exitOnEOF    bool
	verbose      bool
	controllers  string
	etcdQuotaMiB int64
	timeout      time.Duration
}

func runMain(args []string) int {
	var o options
	fs := pflag.NewFlagSet("palisade-testenv", pflag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "state directory (default: a new temporary directory, removed on exit)")
	fs.BoolVar(&o.keepDir, "keep-dir", false, "do not remove the temporary state directory on exit (for debugging)")
	fs.BoolVar(&o.exitOnEOF, "exit-on-stdin-eof", false, "stop when standard input is closed (the parent process went away)")
	fs.BoolVar(&o.verbose, "verbose", false, "log the components to stderr instead of DIR/testenv.log")
	fs.StringVar(&o.controllers, "controllers", defaultControllers, "kube-controller-manager controllers to run")
	fs.Int64Var(&o.etcdQuotaMiB, "etcd-quota-mib", 2048, "etcd backend quota in MiB")
	fs.DurationVar(&o.timeout, "start-timeout", 3*time.Minute, "give up if the control plane is not ready by then")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "palisade-testenv: unknown command %q\n%s", fs.Arg(0), usage)
		return 2
	}

	dir, cleanup, err := stateDir(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "palisade-testenv: %v\n", err)
		return 1
	}
	code := run(o, dir)
	cleanup()
	return code
}

// stateDir returns the state directory and a function removing it when it
// was created here (and --keep-dir is not set).
func stateDir(o options) (string, func(), error) {
	if o.dir != "" {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return "", nil, err
		}
		abs, err := filepath.Abs(o.dir)
		return abs, func() {}, err
	}
	dir, err := os.MkdirTemp("", "palisade-testenv-")
	if err != nil {
		return "", nil, err
	}
	if o.keepDir {
		return dir, func() { fmt.Fprintf(os.Stderr, "palisade-testenv: kept %s\n", dir) }, nil
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

func setupLogging(dir string, verbose bool) error {
	kfs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(kfs)
	settings := map[string]string{"logtostderr": "true", "stderrthreshold": "FATAL"}
	if !verbose {
		settings = map[string]string{
			"logtostderr":     "false",
			"alsologtostderr": "false",
			"one_output":      "true",
			"stderrthreshold": "FATAL",
			"log_file":        filepath.Join(dir, "testenv.log"),
		}
	}
	for k, v := range settings {
		if err := kfs.Set(k, v); err != nil {
			return fmt.Errorf("klog flag %s: %w", k, err)
		}
	}
	return nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func run(o options, dir string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "palisade-testenv: "+format+"\n", a...)
		if !o.verbose {
			fmt.Fprintf(os.Stderr, "palisade-testenv: component logs: %s\n", filepath.Join(dir, "testenv.log"))
			tail(os.Stderr, filepath.Join(dir, "testenv.log"), 40)
		}
		klog.Flush()
		return 1
	}
	if err := setupLogging(dir, o.verbose); err != nil {
		return fail("%v", err)
	}
	defer klog.Flush()
	start := time.Now()

	// Stop on SIGTERM/SIGINT, and (if asked) when stdin is closed.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.exitOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	etcdStop, etcdURL, err := startEtcd(dir, o.etcdQuotaMiB<<20, o.verbose)
	if err != nil {
		return fail("etcd: %v", err)
	}
	defer etcdStop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listening for the API server: %v", err)
	}
	server := fmt.Sprintf("https://%s", ln.Addr().String())
	if _, err := writePKI(dir, server); err != nil {
		ln.Close()
		return fail("%v", err)
	}

	// Deferred in start order, so they run in reverse: controllers, API
	// server, etcd, each waited for with a bound.
	apiCtx, apiCancel := context.WithCancel(context.Background())
	api, err := startAPIServer(apiCtx, dir, etcdURL, ln)
	if err != nil {
		apiCancel()
		return fail("kube-apiserver: %v", err)
	}
	defer func() { apiCancel(); api.stop(20 * time.Second) }()
	kubeconfig := filepath.Join(dir, adminKubeconf)

	readyCtx, readyCancel := context.WithTimeout(ctx, o.timeout)
	defer readyCancel()
	if err := waitAPIServer(readyCtx, kubeconfig, api); err != nil {
		return fail("kube-apiserver not ready: %v", err)
	}

	cmCtx, cmCancel := context.WithCancel(context.Background())
	cm, err := startControllerManager(cmCtx, dir, kubeconfig, o.controllers)
	if err != nil {
		cmCancel()
		return fail("kube-controller-manager: %v", err)
	}
	defer func() { cmCancel(); cm.stop(10 * time.Second) }()
	if err := waitControllers(readyCtx, kubeconfig, cm); err != nil {
		return fail("kube-controller-manager not ready: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, readyFile), []byte(kubeconfig+"\n"), 0o600); err != nil {
		return fail("%v", err)
	}
	defer os.Remove(filepath.Join(dir, readyFile))
	fmt.Printf("READY kubeconfig=%s dir=%s server=%s seconds=%.1f\n", kubeconfig, dir, server, time.Since(start).Seconds())

	select {
	case <-ctx.Done():
		return 0
	case <-api.done:
		return fail("kube-apiserver stopped: %v", api.err)
	case <-cm.done:
		return fail("kube-controller-manager stopped: %v", cm.err)
	}
}

func tail(w io.Writer, path string, n int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		fmt.Fprintln(w, "  | "+l)
	}
}

// mintMain implements `palisade-testenv kubeconfig`.
func mintMain(args []string) int {
	fs := pflag.NewFlagSet("palisade-testenv kubeconfig", pflag.ContinueOnError)
	dir := fs.String("dir", "", "state directory of the running testenv (required)")
	user := fs.String("user", "", "user name (certificate CN) (required)")
	groups := fs.StringSlice("group", nil, "group (certificate O); repeat or comma-separate")
	out := fs.String("out", "", "write the kubeconfig to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if *dir == "" || *user == "" {
		fmt.Fprintln(os.Stderr, "palisade-testenv kubeconfig: --dir and --user are required")
		return 2
	}
	ca, err := loadAuthority(filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile))
	if err != nil {
		fmt.Fprintf(os.Stderr, "palisade-testenv kubeconfig: reading the CA in %s: %v\n", *dir, err)
		return 1
	}
	admin, err := loadServer(filepath.Join(*dir, adminKubeconf))
	if err != nil {
		fmt.Fprintf(os.Stderr, "palisade-testenv kubeconfig: %v\n", err)
		return 1
	}
	data, err := ca.userKubeconfig(admin, *user, *groups)
	if err != nil {
		fmt.Fprintf(os.Stderr, "palisade-testenv kubeconfig: %v\n", err)
		return 1
	}
	if *out == "" {
		_, err = os.Stdout.Write(data)
	} else {
		err = os.WriteFile(*out, data, 0o600)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "palisade-testenv kubeconfig: %v\n", err)
		return 1
	}
	return 0
}
