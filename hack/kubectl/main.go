// Command kubectl builds the upstream kubectl from the k8s.io/kubectl library at the version pinned
// in versions.env (KUBECTL_VERSION). The upstream binary's main package lives in k8s.io/kubernetes,
// whose go.mod uses replace directives and so cannot be `go install`ed by version; this module
// depends only on the published staging libraries instead. See mk/chart.mk (target `tools`).
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	root := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(root); err != nil {
		cmdutil.CheckErr(err)
	}
}
