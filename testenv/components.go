package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	controllermanageroptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// The controllers Palisade's tests rely on: namespace deletion, garbage
// collection, quota status, service accounts and their tokens, the aggregated
// admin/edit/view roles and the kube-root-ca.crt config maps.
const defaultControllers = "namespace-controller,garbage-collector-controller,resourcequota-controller," +
	"serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller," +
	"root-ca-certificate-publisher-controller," +
	// Workload controllers, so tests see pods and claims made from templates go through admission
	// under the controllers' own identities, as in a real cluster.
	"deployment-controller,replicaset-controller,statefulset-controller,job-controller"

// The admission plugins of a production cluster (added to the defaults).
const admissionPlugins = "NamespaceLifecycle,ServiceAccount,ResourceQuota,LimitRanger,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity"

func localURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

// startEtcd starts an embedded single-member etcd with its data in dir/etcd.
func startEtcd(dir string, quota int64, verbose bool) (func(), string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "palisade-testenv"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{localURL(clientPort)}
	cfg.AdvertiseClientUrls = cfg.ListenClientUrls
	cfg.ListenPeerUrls = []url.URL{localURL(peerPort)}
	cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.QuotaBackendBytes = quota
	cfg.UnsafeNoFsync = true // test data: speed over durability
	cfg.LogLevel = "error"
	if !verbose {
		cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", errors.New("not ready after 60s")
	}
	stop := func() {
		done := make(chan struct{})
		go func() { e.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	u := localURL(clientPort)
	return stop, u.String(), nil
}

// component is a control plane component running in a goroutine.
type component struct {
	done chan struct{} // closed when it has stopped
	err  error         // why it stopped; read after done is closed
}

func goComponent(run func() error) *component {
	c := &component{done: make(chan struct{})}
	go func() {
		c.err = run()
		if c.err == nil {
			c.err = errors.New("exited")
		}
		close(c.done)
	}()
	return c
}

// stop waits up to d for the component to stop.
func (c *component) stop(d time.Duration) {
	select {
	case <-c.done:
	case <-time.After(d):
	}
}

// parseFlags adds named flag sets to one flag set and parses args into it.
func parseFlags(name string, sets map[string]*pflag.FlagSet, args []string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for _, s := range sets {
		fs.AddFlagSet(s)
	}
	return fs.Parse(args)
}

// auditPolicyYAML records every request at level Metadata (who, what, on
// which object, with which result; no bodies), once when the response is
// complete (plus ResponseStarted for watches and other long-running
// requests), not when it is received.
const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// startAPIServer configures kube-apiserver through its own options and flags
// and runs it on ln until ctx ends; its result goes to done.
func startAPIServer(ctx context.Context, dir, etcdURL string, ln net.Listener) (*component, error) {
	port := ln.Addr().(*net.TCPAddr).Port
	f := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(f(auditPolicy), []byte(auditPolicyYAML), 0o600); err != nil {
		return nil, fmt.Errorf("writing the audit policy: %w", err)
	}
	s := apiserveroptions.NewServerRunOptions()
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + f("apiserver-certs"),
		"--tls-cert-file=" + f(servingCert),
		"--tls-private-key-file=" + f(servingKey),
		"--client-ca-file=" + f(caCertFile),
		"--authorization-mode=RBAC",
		"--enable-admission-plugins=" + admissionPlugins,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f(saPubFile),
		"--service-account-signing-key-file=" + f(saKeyFile),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--enable-priority-and-fairness=false",
		// The audit log: one JSON event per line, written by the request's
		// own goroutine before the response completes (blocking mode, no
		// batching), to a plain file that is never rotated, so a test can
		// read the event of a request as soon as the request returns.
		"--audit-policy-file=" + f(auditPolicy),
		"--audit-log-path=" + f(auditLog),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		"--audit-log-maxbackup=0",
		"--audit-log-maxage=0",
	}
	if err := parseFlags("kube-apiserver", s.Flags().FlagSets, args); err != nil {
		return nil, err
	}
	s.SecureServing.Listener = ln
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, errors.Join(errs...)
	}
	return goComponent(func() error { return apiserver.Run(ctx, completed) }), nil
}

func adminClient(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return kubernetes.NewForConfig(cfg)
}

// poll calls check every 100ms until it returns true, an error, ctx ends or a
// component reports on done.
func poll(ctx context.Context, comp *component, check func(context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-comp.done:
			return fmt.Errorf("stopped: %v", comp.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitAPIServer(ctx context.Context, kubeconfig string, comp *component) error {
	c, err := adminClient(kubeconfig)
	if err != nil {
		return err
	}
	return poll(ctx, comp, func(ctx context.Context) (bool, error) {
		body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(body)))
		}
		return true, nil
	})
}

// startControllerManager configures kube-controller-manager through its own
// options and flags and runs it until ctx ends; its result goes to done.
func startControllerManager(ctx context.Context, dir, kubeconfig, controllers string) (*component, error) {
	s, err := controllermanageroptions.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	known := controllermanager.KnownControllers()
	disabled := controllermanager.ControllersDisabledByDefault()
	aliases := controllermanager.ControllerAliases()
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllers,
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file=" + filepath.Join(dir, saKeyFile),
		"--root-ca-file=" + filepath.Join(dir, caCertFile),
		"--use-service-account-credentials=true",
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}
	if err := parseFlags("kube-controller-manager", s.Flags(known, disabled, aliases).FlagSets, args); err != nil {
		return nil, err
	}
	c, err := s.Config(ctx, known, disabled, aliases)
	if err != nil {
		return nil, err
	}
	return goComponent(func() error { return controllermanager.Run(ctx, c.Complete()) }), nil
}

// waitControllers waits for the service account controller to create the
// default namespace's "default" service account: the controllers are running.
func waitControllers(ctx context.Context, kubeconfig string, comp *component) error {
	c, err := adminClient(kubeconfig)
	if err != nil {
		return err
	}
	return poll(ctx, comp, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// loadServer returns the API server URL of a kubeconfig.
func loadServer(kubeconfig string) (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return "", err
	}
	return cfg.Host, nil
}
