package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/cli"
)

// The deployment files are checked here because no container engine runs
// where the tests do: the Dockerfile is parsed and its directives checked,
// the systemd unit is parsed and, where systemd-analyze is installed,
// verified and scored.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur *instruction
	for i, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		cont := strings.HasSuffix(trimmed, `\`)
		trimmed = strings.TrimSuffix(trimmed, `\`)
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(trimmed)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: instruction continues past the end", path, cur.line)
	}
	return out
}

// execForm parses a JSON-array (exec form) argument.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s must use the exec form (a JSON array): %v", in.line, in.cmd, err)
	}
	return v
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../Dockerfile")
	known := map[string]bool{"FROM": true, "WORKDIR": true, "ENV": true, "COPY": true, "RUN": true, "ARG": true, "USER": true, "VOLUME": true, "EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "HEALTHCHECK": true, "LABEL": true}
	var stages [][]instruction
	args := map[string]bool{}
	for _, in := range ins {
		if !known[in.cmd] {
			t.Errorf("Dockerfile:%d: unknown instruction %q", in.line, in.cmd)
		}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile:%d: %s before FROM", in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
		if in.cmd == "ARG" {
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		}
		for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(in.args, -1) {
			if !args[m[1]] {
				t.Errorf("Dockerfile:%d: ${%s} used before ARG %s", in.line, m[1], m[1])
			}
		}
	}
	if len(stages) != 2 {
		t.Fatalf("want a build stage and a runtime stage, got %d stages", len(stages))
	}
	build, run := stages[0], stages[1]
	if !regexp.MustCompile(`^golang:1\.\d+\.\d+-\S+ AS build$`).MatchString(build[0].args) {
		t.Errorf("build stage %q: want a pinned golang:1.x.y image AS build", build[0].args)
	}
	var buildText string
	for _, in := range build {
		buildText += in.cmd + " " + in.args + "\n"
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "-buildid=", "./cmd/vigil",
		"github.com/vigil-detect/vigil/buildinfo.version=${VERSION}", "github.com/vigil-detect/vigil/buildinfo.commit=${COMMIT}", "github.com/vigil-detect/vigil/buildinfo.date=${DATE}"} {
		if !strings.Contains(buildText, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	if base := run[0].args; base != "gcr.io/distroless/static-debian12:nonroot" && base != "scratch" {
		t.Errorf("runtime base %q: want distroless static or scratch", base)
	}
	get := func(cmd string) []instruction {
		var out []instruction
		for _, in := range run {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}
	if u := get("USER"); len(u) != 1 || strings.HasPrefix(u[0].args, "0") || strings.HasPrefix(u[0].args, "root") {
		t.Errorf("runtime stage USER %+v: want one non-root user", u)
	}
	if v := get("VOLUME"); len(v) != 1 || strings.Join(execForm(t, v[0]), " ") != "/data" {
		t.Errorf("runtime stage VOLUME %+v: want /data", v)
	}
	var copied bool
	for _, c := range get("COPY") {
		if strings.HasPrefix(c.args, "--from=build ") && strings.HasSuffix(c.args, " /usr/local/bin/vigil") {
			copied = true
		}
		if strings.HasSuffix(c.args, " /data") && !strings.Contains(c.args, "--chown=65532:65532") {
			t.Errorf("Dockerfile:%d: /data must belong to the non-root user", c.line)
		}
	}
	if !copied {
		t.Error("runtime stage does not copy the binary from the build stage")
	}
	ep, cmd := get("ENTRYPOINT"), get("CMD")
	if len(ep) != 1 || len(cmd) != 1 {
		t.Fatalf("want one ENTRYPOINT and one CMD, got %d and %d", len(ep), len(cmd))
	}
	argv := append(execForm(t, ep[0]), execForm(t, cmd[0])...)
	full := strings.Join(argv, " ")
	if !strings.HasPrefix(full, "/usr/local/bin/vigil serve ") || !strings.Contains(full, " --data-dir /data") {
		t.Errorf("container command %q: want vigil serve --data-dir /data", full)
	}
	httpAddr := ""
	for i, a := range argv {
		if a == "--http" && i+1 < len(argv) {
			httpAddr = argv[i+1]
		}
	}
	if httpAddr == "" || !strings.HasPrefix(httpAddr, ":") {
		t.Errorf("container command %q: want --http :PORT (reachable from outside the container)", full)
	}
	hc := get("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("want one HEALTHCHECK, got %d", len(hc))
	}
	opts, probe, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q: no CMD", hc[0].args)
	}
	for _, o := range []string{"--interval=", "--timeout=", "--start-period=", "--retries="} {
		if !strings.Contains(opts, o) {
			t.Errorf("HEALTHCHECK lacks %s", o)
		}
	}
	pa := execForm(t, instruction{line: hc[0].line, cmd: "HEALTHCHECK CMD", args: probe})
	if len(pa) < 3 || pa[0] != "/usr/local/bin/vigil" || pa[1] != "healthcheck" || pa[len(pa)-1] != "http://127.0.0.1"+httpAddr+"/readyz" {
		t.Errorf("HEALTHCHECK CMD %q: want vigil healthcheck http://127.0.0.1%s/readyz", pa, httpAddr)
	}
	if e := get("EXPOSE"); len(e) != 1 || ":"+e[0].args != httpAddr {
		t.Errorf("EXPOSE %+v: want the --http port %s", e, httpAddr)
	}
	// The flags the image passes exist (once vigil serve is built in).
	checkFlags(t, "serve", argv[1:])
	checkFlags(t, "healthcheck", pa[1:])
}

// checkFlags checks, through vigil's own help, that every --flag in argv
// is a flag of the command.
func checkFlags(t *testing.T, command string, argv []string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), []string{command, "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != cli.ExitOK {
		t.Logf("vigil %s --help: exit %d (%s): the command is not in this build; its flags are not checked", command, code, strings.TrimSpace(errb.String()))
		return
	}
	for _, a := range argv {
		if strings.HasPrefix(a, "--") && !strings.Contains(out.String(), a+" ") {
			t.Errorf("vigil %s has no flag %s", command, a)
		}
	}
}

// parseUnit reads a systemd unit file: section → key → values (a key may
// repeat).
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a setting: %q", path, i+1, l)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	const path = "../deploy/vigil.service"
	u := parseUnit(t, path)
	svc := u["Service"]
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "vigil", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "SystemCallArchitectures": "native",
		"RestrictSUIDSGID": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "UMask": "0077",
	} {
		if got := svc[k]; len(got) != 1 || got[0] != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	if f := strings.Join(svc["SystemCallFilter"], " "); !strings.Contains(f, "@system-service") || !strings.Contains(f, "~@privileged") {
		t.Errorf("SystemCallFilter %q: want @system-service without @privileged", f)
	}
	exec := svc["ExecStart"]
	if len(exec) != 1 || !strings.HasPrefix(exec[0], "/usr/local/bin/vigil serve ") || !strings.Contains(exec[0], "--data-dir /var/lib/vigil") {
		t.Errorf("ExecStart %q: want vigil serve --data-dir /var/lib/vigil (the StateDirectory)", exec)
	} else {
		checkFlags(t, "serve", strings.Fields(exec[0])[2:])
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q", got)
	}

	sa, err := exec0("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze is not installed (apt-get install systemd): %v", err)
		}
		t.Skipf("systemd-analyze is not installed (apt-get install systemd); the unit was only parsed")
	}
	// verify checks every setting and that ExecStart's program exists:
	// point it at a stand-in.
	dir := t.TempDir()
	stub := filepath.Join(dir, "vigil")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	unit := filepath.Join(dir, "vigil.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/vigil"), []byte(stub)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(sa, "verify", "--man=no", unit); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score: 0 (locked down) to 10 (unprotected); --threshold
	// counts in tenths. The unit scores 1.5 with systemd 252.
	if out, err := runCmd(sa, "security", "--offline=true", "--threshold=20", unit); err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	} else if m := regexp.MustCompile(`Overall exposure level for vigil.service: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

func exec0(name string) (string, error) { return exec.LookPath(name) }

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// TestDeployedCommands runs the container's command and the systemd
// unit's ExecStart as they are written (a built vigil, the data folder,
// HTTP address and files moved to temporary, loopback places), probes
// them with the container's HEALTHCHECK command until /readyz answers,
// and stops them with SIGTERM as docker stop and systemctl stop do: each
// must become healthy and exit 0.
func TestDeployedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vigil and starts vigil serve twice")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vigil").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var image, hc []string
	for _, in := range parseDockerfile(t, "../Dockerfile") {
		switch in.cmd {
		case "ENTRYPOINT", "CMD":
			image = append(image, execForm(t, in)...)
		case "HEALTHCHECK":
			_, probe, _ := strings.Cut(in.args, "CMD ")
			hc = execForm(t, instruction{line: in.line, cmd: "HEALTHCHECK CMD", args: probe})
		}
	}
	unit := parseUnit(t, "../deploy/vigil.service")
	execStart := strings.Fields(unit["Service"]["ExecStart"][0])

	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"container", image},
		{"systemd", execStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeLoopback(t)
			_, port, _ := strings.Cut(addr, ":")
			data := filepath.Join(t.TempDir(), "data")
			config := filepath.Join(t.TempDir(), "vigil.yaml")
			if err := os.WriteFile(config, []byte("http: "+addr+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			moved := map[string]string{"/data": data, "/var/lib/vigil": data, ":8470": addr,
				"/run/secrets/vigil-tokens": tokens, "/etc/vigil/vigil.yaml": config, "/usr/local/bin/vigil": bin}
			var argv []string
			for _, a := range tc.argv {
				if m, ok := moved[a]; ok {
					a = m
				}
				argv = append(argv, a)
			}
			// The embedded NATS server's client port is not needed here
			// and would collide with other tests.
			argv = append(argv, "--nats-listen", "")
			cmd := exec.Command(argv[0], argv[1:]...)
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-done
				}
			})
			probe := append([]string{bin}, hc[1:]...)
			probe[len(probe)-1] = strings.Replace(probe[len(probe)-1], "127.0.0.1:8470", "127.0.0.1:"+port, 1)
			healthy := false
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !healthy; {
				select {
				case err := <-done:
					t.Fatalf("%q exited before becoming healthy: %v\n%s", argv, err, logs.String())
				default:
				}
				if exec.Command(probe[0], probe[1:]...).Run() == nil {
					healthy = true
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !healthy {
				t.Fatalf("%q: the health check %q never passed\n%s", argv, probe, logs.String())
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("after SIGTERM: %v\n%s", err, logs.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("no exit within 60s of SIGTERM\n%s", logs.String())
			}
		})
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
