package main

import (
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// executor makes a stand-in exec script in a temporary folder and returns its path.
func executor(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), execScriptName)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArgsTakeOptionsAndTheFirstPositionalAsTheEngine(t *testing.T) {
	script := executor(t)
	host, err := newLanguageHostFromArgs([]string{
		"-root=/project", "--virtualenv=.venv", "-use-executor=" + script,
		"-tracing=ignored", "127.0.0.1:4000", "127.0.0.1:5000",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &languageHost{
		execScript: script, engineAddress: "127.0.0.1:4000", rootDir: "/project", virtualenv: ".venv",
	}
	if !reflect.DeepEqual(host, want) {
		t.Fatalf("got %+v, want %+v", host, want)
	}
}

func TestAMissingExecutorIsNamed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere", execScriptName)
	_, err := newLanguageHostFromArgs([]string{"-use-executor=" + missing})
	if err == nil || err.Error() != "missing executor "+missing+" (install it next to this binary)" {
		t.Fatalf("got %v", err)
	}
}

func TestTheProgramsVirtualenvOptionWinsAndIsRelativeToItsRoot(t *testing.T) {
	host := &languageHost{rootDir: "/engine-root", virtualenv: "flag-venv"}
	options, err := structpb.NewStruct(map[string]any{"virtualenv": "venv"})
	if err != nil {
		t.Fatal(err)
	}
	python, venv := host.pythonFor(&pulumirpc.ProgramInfo{RootDirectory: "/program", Options: options})
	if python != "/program/venv/bin/python" || venv != "/program/venv" {
		t.Fatalf("got %s, %s", python, venv)
	}
	python, venv = host.pythonFor(nil)
	if python != "/engine-root/flag-venv/bin/python" || venv != "/engine-root/flag-venv" {
		t.Fatalf("without program info: got %s, %s", python, venv)
	}
	if python, venv = (&languageHost{}).pythonFor(nil); python != "python3" || venv != "" {
		t.Fatalf("without a virtualenv: got %s, %s", python, venv)
	}
}

func TestRunArgumentsLeaveOutEmptyValuesAndEndWithTheProgram(t *testing.T) {
	host := &languageHost{engineAddress: "127.0.0.1:4000"}
	got := host.runArguments(&pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:4001", Project: "voicepop", Stack: "sandbox", Pwd: "/p",
		DryRun: true, Parallel: 8, Args: []string{"extra"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: "/p", EntryPoint: "stacks"},
	})
	want := []string{
		"--monitor", "127.0.0.1:4001", "--engine", "127.0.0.1:4000", "--project", "voicepop",
		"--stack", "sandbox", "--pwd", "/p", "--dry_run", "true", "--parallel", "8",
		"--root_directory", "/p", "stacks", "extra",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := (&languageHost{}).runArguments(&pulumirpc.RunRequest{}); got[len(got)-1] != "." {
		t.Fatalf("without a program the current folder runs: %q", got)
	}
}

// A host started with SIGINT ignored (a background job of a non-interactive shell) must still
// stop serving when the engine sends SIGINT, instead of waiting to be killed.
func TestSigintStopsTheServerEvenWhenInheritedAsIgnored(t *testing.T) {
	signal.Ignore(syscall.SIGINT)
	defer signal.Reset(syscall.SIGINT)
	server, served := serving(t)
	stopWhenAsked(server, syscall.SIGINT)

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	mustStop(t, served, "SIGINT did not stop the server within 5 s")
}

// serving starts a gRPC server on loopback; its channel yields Serve's result once it stops.
func serving(t *testing.T) (*grpc.Server, chan error) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	return server, served
}

// mustStop waits up to 5 s for the server to stop cleanly, failing with `late` if it does not.
func mustStop(t *testing.T, served chan error, late string) {
	t.Helper()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal(late)
	}
}

// A host serves while the engine holds its standard input, and stops once that ends.
func TestTheServerStopsWhenTheEnginesEndOfStdinCloses(t *testing.T) {
	server, served := serving(t)
	stdin, engine := io.Pipe()
	stopWhenEngineGone(server, stdin)
	select {
	case err := <-served:
		t.Fatalf("stopped while the engine was there: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}
	mustStop(t, served, "the server outlived its engine by 5 s")
}
