package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"hubd/systemd"
)

const debScripts = "../../systemd/deb"

func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not found: apt-get install -y %s", name, pkg)
	}
}

// TestDeb_Layout builds the amd64 package with the Makefile's script,
// unpacks it and checks what lands where, with which mode.
func TestDeb_Layout(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	needTool(t, "dpkg-deb", "dpkg")
	dir := t.TempDir()
	bin := buildHubd(t, dir, "amd64")
	deb := buildDeb(t, dir, "amd64") // build.sh on that binary

	for field, want := range map[string]string{"Package": "hubd", "Version": testDebVersion, "Architecture": "amd64"} {
		got, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("control %s = %q (%v), want %q", field, got, err, want)
		}
	}

	// Every entry root-owned in the archive (--root-owner-group).
	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "root/root" {
			t.Errorf("entry not root/root: %q", l)
		}
	}

	root := filepath.Join(dir, "root")
	ctrl := filepath.Join(dir, "DEBIAN")
	for _, args := range [][]string{{"-x", deb, root}, {"-e", deb, ctrl}} {
		if out, err := exec.Command("dpkg-deb", args...).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
		}
	}

	example, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		path string
		mode fs.FileMode
		want []byte // nil: content not checked
	}{
		{"/usr/bin/hubd", 0o755, built},
		{"/lib/systemd/system/hubd.service", 0o644, []byte(systemd.Unit)},
		{"/etc/hubd/hubd.yaml", 0o640, example},
		{"/var/lib/hubd", fs.ModeDir | 0o700, nil},
		{"/etc/hubd", fs.ModeDir | 0o755, nil},
	}
	for _, f := range files {
		fi, err := os.Lstat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
		if f.want != nil {
			got, _ := os.ReadFile(filepath.Join(root, f.path))
			if !bytes.Equal(got, f.want) {
				t.Errorf("%s: content differs from its source", f.path)
			}
		}
	}

	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil || string(conffiles) != "/etc/hubd/hubd.yaml\n" {
		t.Errorf("conffiles = %q, %v", conffiles, err)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctrl, s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v", s, fi.Mode())
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
	postinst, _ := os.ReadFile(filepath.Join(ctrl, "postinst"))
	for _, want := range []string{"useradd --system", "-G dialout hubd", "root hubd 0640 /etc/hubd/hubd.yaml", "hubd hubd 0700 /var/lib/hubd", "systemctl enable hubd.service", "try-restart"} {
		if !bytes.Contains(postinst, []byte(want)) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	postrm, _ := os.ReadFile(filepath.Join(ctrl, "postrm"))
	if !bytes.Contains(postrm, []byte("rm -rf /var/lib/hubd")) || bytes.Index(postrm, []byte("purge)")) > bytes.Index(postrm, []byte("rm -rf /var/lib/hubd")) {
		t.Error("postrm must delete the state on purge only")
	}
}

func TestDebBuild_BadInput_ClearError(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	dir := t.TempDir()
	exe := filepath.Join(dir, "hubd")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	noexec := filepath.Join(dir, "plain")
	os.WriteFile(noexec, []byte("x"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no args", nil, "usage"},
		{"bad arch", []string{"sparc", exe, "1.0", dir}, "unsupported architecture"},
		{"version letter", []string{"amd64", exe, "v1.0", dir}, "must start with a digit"},
		{"version shell", []string{"amd64", exe, "1.0;rm", dir}, "characters Debian does not allow"},
		{"version space", []string{"amd64", exe, "1.0 2", dir}, "characters Debian does not allow"},
		{"missing binary", []string{"amd64", filepath.Join(dir, "absent"), "1.0", dir}, "missing or not executable"},
		{"not executable", []string{"amd64", noexec, "1.0", dir}, "missing or not executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("sh", append([]string{filepath.Join(debScripts, "build.sh")}, tt.args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "deb: ") || !strings.Contains(string(out), tt.want) {
				t.Fatalf("err %v, output %q, want %q", err, out, tt.want)
			}
		})
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.deb")); len(m) > 0 {
		t.Fatalf("bad input still produced %v", m)
	}
}

func TestDebVersion_FromGitDescribe(t *testing.T) {
	tests := []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"e7a541c", "0.0.0~dev"},
		{"e7a541c-dirty", "0.0.0~dev"},
		{"", "0.0.0~dev"},
		{"vnext", "0.0.0~dev"},
		{"v1.0; rm -rf /", "0.0.0~dev"},
		{"v1.0\n2", "0.0.0~dev"},
	}
	for _, tt := range tests {
		out, err := exec.Command("sh", filepath.Join(debScripts, "version.sh"), tt.describe).Output()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("version.sh %q = %q (%v), want %q", tt.describe, out, err, tt.want)
		}
	}
	// Without an argument it asks git and still prints a valid version.
	out, err := exec.Command("sh", filepath.Join(debScripts, "version.sh")).Output()
	if v := strings.TrimSpace(string(out)); err != nil || v == "" || v[0] < '0' || v[0] > '9' {
		t.Errorf("version.sh = %q, %v", out, err)
	}
	if runtime.GOOS != "linux" {
		t.Skip("dpkg checks are Linux-only")
	}
	if _, err := exec.LookPath("dpkg"); err == nil {
		for _, tt := range tests {
			if err := exec.Command("dpkg", "--validate-version", tt.want).Run(); err != nil {
				t.Errorf("dpkg rejects %q: %v", tt.want, err)
			}
		}
	}
}

// BenchmarkDeb_Size builds what ships to the gateways (the stripped static
// arm64 binary and its package) and reports their sizes; the target for the
// binary is 20 MB or less.
func BenchmarkDeb_Size(b *testing.B) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		b.Skip("dpkg-deb not found: apt-get install -y dpkg")
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		bin := buildHubd(b, dir, "arm64")
		out, err := exec.Command("sh", filepath.Join(debScripts, "build.sh"), "arm64", bin, "0.0.0", dir).CombinedOutput()
		if err != nil {
			b.Fatalf("build.sh: %v\n%s", err, out)
		}
		bi, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		di, err := os.Stat(filepath.Join(dir, "hubd_0.0.0_arm64.deb"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(bi.Size())/1e6, "arm64-binary-MB")
		b.ReportMetric(float64(di.Size())/1e6, "arm64-deb-MB")
	}
}
