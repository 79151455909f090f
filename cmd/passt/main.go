// SPDX-License-Identifier: GPL-2.0-or-later

// Command passt is passt and pasta: the mode comes from the name it was invoked by.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"passt/version"
)

func main() {
	base := filepath.Base(os.Args[0])
	mode := ""
	switch {
	case strings.Contains(base, "pasta"):
		mode = "pasta"
	case strings.Contains(base, "passt"):
		mode = "passt"
	default:
		fmt.Fprintln(os.Stderr, `Cannot determine mode, invoke as "passt" or "pasta"`)
		os.Exit(1)
	}
	for _, a := range os.Args[1:] {
		if a == "--version" {
			fmt.Printf("%s %s\n", mode, version.Version)
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, "not supported yet")
	os.Exit(1)
}
