package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// testBuildVersion is the version stamped into the binaries buildHubd
// makes, with the commit testBuildCommit.
const (
	testBuildVersion = "test-build"
	testBuildCommit  = "test0000"
)

// testDebVersion is the version of the packages buildDeb makes: one
// systemd/deb/version.sh makes from git describe, with the characters
// beyond digits that Debian allows.
const testDebVersion = "1.2.3+4.gabc"

// builds are the release binaries and packages this test process made,
// one per architecture: a binary costs a link of the whole daemon and a
// package an xz run over it (seconds each), and the tests that want them
// run concurrently, so the first caller makes it and the others wait.
var builds struct {
	mu   sync.Mutex
	dir  string                // removed by TestMain
	made map[string]*hubdBuild // by "bin/GOARCH" and "deb/ARCH"
}

type hubdBuild struct {
	once sync.Once
	path string
	err  error
}

// buildOnce returns what build made for key, calling it at the first call.
func buildOnce(t testing.TB, key string, build func() (string, error)) string {
	t.Helper()
	builds.mu.Lock()
	if builds.made == nil {
		builds.made = map[string]*hubdBuild{}
	}
	b := builds.made[key]
	if b == nil {
		b = &hubdBuild{}
		builds.made[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.path, b.err = build() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// buildHubd puts this command, built for linux/goarch with the Makefile's
// flags (static, stripped, version testBuildVersion stamped), into dir
// and returns its path.
func buildHubd(t testing.TB, dir, goarch string) string {
	t.Helper()
	return linkInto(t, sharedHubd(t, goarch), filepath.Join(dir, "hubd"))
}

// sharedHubd is the process's one build for goarch.
func sharedHubd(t testing.TB, goarch string) string {
	t.Helper()
	return buildOnce(t, "bin/"+goarch, func() (string, error) { return goBuildHubd(goarch) })
}

// buildDeb puts the package `make deb` makes for debArch (build.sh on
// buildHubd's binary, version testDebVersion) into dir and returns its
// path.
func buildDeb(t testing.TB, dir, debArch string) string {
	t.Helper()
	bin := sharedHubd(t, debArch)
	deb := buildOnce(t, "deb/"+debArch, func() (string, error) { return debBuildSh(debArch, bin) })
	return linkInto(t, deb, filepath.Join(dir, filepath.Base(deb)))
}

// debBuildSh runs build.sh, which must print the path of the package.
func debBuildSh(debArch, bin string) (string, error) {
	dist := filepath.Join(filepath.Dir(bin), "dist")
	out, err := exec.Command("sh", filepath.Join(debScripts, "build.sh"), debArch, bin, testDebVersion, dist).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build.sh: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "hubd_"+testDebVersion+"_"+debArch+".deb")
	if got := strings.TrimSpace(string(out)); got != deb {
		return "", fmt.Errorf("build.sh printed %q, want %q", got, deb)
	}
	return deb, nil
}

// goBuildHubd runs go build for goarch into the process's build directory.
func goBuildHubd(goarch string) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "hubd-test-build-")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = d
	}
	out := filepath.Join(builds.dir, goarch, "hubd")
	builds.mu.Unlock()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+testBuildVersion+" -X main.commit="+testBuildCommit,
		"-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if goarch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", goarch, err, b)
	}
	return out, nil
}

// removeBuilds deletes what the builds made (TestMain, after the tests).
func removeBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
}

// linkInto hard-links the file src at dst and returns dst. A copy is
// made only across file systems: the copy's file open for writing, were
// another test to fork a child at that moment, would be inherited until
// the child's exec and make exec of dst fail with ETXTBSY.
func linkInto(t testing.TB, src, dst string) string {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return dst
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
