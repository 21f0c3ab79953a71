// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3, at the
// version k8s.io/kubernetes pins in its go.mod, for the cluster suite.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
