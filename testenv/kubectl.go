package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"

	// The client authentication plugins kubectl is built with (OIDC).
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// kubectlMain implements `palisade-testenv kubectl ARGS...`: the kubectl of
// the same Kubernetes release as the control plane (k8s.io/kubectl), run in
// this process as if it were the kubectl binary, so that tests need no
// kubectl installed. kubectl leaves by os.Exit with its own exit status on
// every error, as the real binary does.
func kubectlMain(args []string) int {
	os.Args = append([]string{"kubectl"}, args...)
	// As kubectl's own main does: the verbosity is needed before the flags
	// are parsed (plugins and kuberc are handled while building the command).
	_, _ = logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args))
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err) // prints the error and exits (status 1 or the error's own)
		return 1
	}
	return 0
}
