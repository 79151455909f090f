module passt

go 1.26.8

require (
	github.com/elastic/go-seccomp-bpf v1.6.0
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/sys v0.50.0
)

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/net v0.41.0 // indirect
)
