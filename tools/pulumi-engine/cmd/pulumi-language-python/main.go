// Command pulumi-language-python is this project's Python language host for the Pulumi engine.
//
// Upstream's host lives in a nested Go module that the module proxy reachable here does not
// serve, so the project builds this small one from the sdk/v3 module instead. It implements the
// LanguageRuntime RPCs a Python stack needs: it runs the program through the SDK's own
// `pulumi-language-python-exec` script (installed next to this binary) inside the project's
// virtualenv, and runs Python plugins (policy packs, providers) the same way. Plugin discovery
// is left to the engine: the project installs its plugins explicitly and keeps automatic
// acquisition off.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	execScriptName = "pulumi-language-python-exec"
	// The SDK's exec script exits with this code after it has shown the user an actionable error.
	exitCodeUserActionableError = 32
)

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	execScript    string
	engineAddress string
	rootDir       string
	virtualenv    string // from the -virtualenv flag; a program's runtime options take precedence
}

func main() {
	host, err := newLanguageHostFromArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
	var server *grpc.Server
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			server = srv
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not serve: %v\n", err)
		os.Exit(1)
	}
	stopWhenAsked(server, os.Interrupt, syscall.SIGTERM)
	stopWhenEngineGone(server, os.Stdin)
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: stopped serving: %v\n", err)
		os.Exit(1)
	}
}

// stopWhenAsked stops serving on the given signals: the engine closes a plugin with SIGINT.
// Asking for SIGINT matters even though Go handles it by default: a process started in the
// background by a non-interactive shell (as CI jobs start commands) inherits SIGINT as
// ignored, Go keeps an inherited ignore unless the signal is asked for, and the engine then
// waits its 5 s grace period before killing this host, on every preview. Stopping the server
// cancels the running RPCs, and with them the Python processes they started.
func stopWhenAsked(server *grpc.Server, signals ...os.Signal) {
	asked := make(chan os.Signal, 1)
	signal.Notify(asked, signals...)
	go func() {
		<-asked
		server.Stop()
	}()
}

// stopWhenEngineGone stops serving once standard input ends: the engine starts its plugins
// with a pipe there and holds its end until they exit, so the end comes when the engine is
// gone. An engine that fails before it closes its plugins never sends its SIGINT: `pulumi
// preview` or `up` of a stack the backend does not hold left this host running in about one
// run of six (the fleet's runs try a stack before creating it), as does a killed engine.
func stopWhenEngineGone(server *grpc.Server, stdin io.Reader) {
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		server.Stop()
	}()
}

// newLanguageHostFromArgs reads the engine's command line: `-flag=value` options (unknown ones
// are ignored so newer engines keep working) and the engine's address as the first positional.
func newLanguageHostFromArgs(args []string) (*languageHost, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating this executable: %w", err)
	}
	host := &languageHost{execScript: filepath.Join(filepath.Dir(self), execScriptName)}
	for _, arg := range args {
		if !strings.HasPrefix(arg, "-") {
			if host.engineAddress == "" {
				host.engineAddress = arg
			}
			continue
		}
		name, value, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch name {
		case "root":
			host.rootDir = value
		case "virtualenv":
			host.virtualenv = value
		case "use-executor":
			host.execScript = value
		}
	}
	if _, err := os.Stat(host.execScript); err != nil {
		return nil, fmt.Errorf("missing executor %s (install it next to this binary)", host.execScript)
	}
	return host, nil
}

// pythonFor resolves the interpreter of the program's virtualenv (runtime option `virtualenv`,
// relative to the project root), falling back to python3 on PATH.
func (h *languageHost) pythonFor(info *pulumirpc.ProgramInfo) (python string, venv string) {
	venv = h.virtualenv
	root := h.rootDir
	if info != nil {
		if opt, ok := info.GetOptions().AsMap()["virtualenv"].(string); ok && opt != "" {
			venv = opt
		}
		if info.GetRootDirectory() != "" {
			root = info.GetRootDirectory()
		}
	}
	if venv == "" {
		return "python3", ""
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(root, venv)
	}
	return filepath.Join(venv, "bin", "python"), venv
}

// processEnv is the environment for a Python child: the virtualenv first on PATH, and the
// virtualenv exported so that dynamic providers started later find it too.
func processEnv(venv string, extra ...string) []string {
	env := os.Environ()
	if venv != "" {
		env = append(env,
			"VIRTUAL_ENV="+venv,
			"PULUMI_RUNTIME_VIRTUALENV="+venv,
			"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return append(env, extra...)
}

func (h *languageHost) Handshake(_ context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	if req.GetRootDirectory() != "" {
		h.rootDir = req.GetRootDirectory()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *languageHost) GetRequiredPlugins(context.Context,
	*pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(context.Context,
	*pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	python, venv := h.pythonFor(req.GetInfo())
	// The SDK expects a JSON object and a JSON list even when they are empty, never `null`.
	config, secretKeys := req.GetConfig(), req.GetConfigSecretKeys()
	if config == nil {
		config = map[string]string{}
	}
	if secretKeys == nil {
		secretKeys = []string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret config keys: %w", err)
	}
	cmd := exec.CommandContext(ctx, python, append([]string{"-u", h.execScript}, h.runArguments(req)...)...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = processEnv(venv,
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))

	var exitErr *exec.ExitError
	switch err := cmd.Run(); {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitCodeUserActionableError:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
		}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s: %v", python, err)}, nil
	}
}

// runArguments is the exec script's command line for one RunRequest.
func (h *languageHost) runArguments(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())

	program := req.GetInfo().GetEntryPoint()
	if program == "" {
		program = req.GetProgram()
	}
	if program == "" {
		program = "."
	}
	return append(append(args, program), req.GetArgs()...)
}

// InstallDependencies does not install anything: `make setup` owns the virtualenv. It only
// checks that the virtualenv is there, so a missing one fails with the command that fixes it.
func (h *languageHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	python, venv := h.pythonFor(req.GetInfo())
	if venv == "" {
		return nil
	}
	if _, err := os.Stat(python); err != nil {
		return fmt.Errorf("virtualenv %s has no python: run `make setup`", venv)
	}
	return server.Send(&pulumirpc.InstallDependenciesResponse{
		Stdout: []byte("using virtualenv " + venv + "\n"),
	})
}

func (h *languageHost) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python, _ := h.pythonFor(req.GetInfo())
	out, err := exec.Command(python, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: python,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "Python "),
	}, nil
}

func (h *languageHost) GetProgramDependencies(context.Context,
	*pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

// RunPlugin runs a Python plugin (a policy pack or a provider written in Python): the plugin's
// directory is run as a program with the virtualenv's interpreter, its output streamed back.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	python, venv := h.pythonFor(req.GetInfo())
	program := req.GetInfo().GetProgramDirectory()
	if program == "" {
		program = req.GetProgram()
	}
	cmd := exec.CommandContext(server.Context(), python, append([]string{"-u", program}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(processEnv(venv), req.GetEnv()...)
	cmd.Stdout = &pluginStream{server: server, stdout: true}
	cmd.Stderr = &pluginStream{server: server}

	var exitErr *exec.ExitError
	switch err := cmd.Run(); {
	case err == nil:
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{}})
	case errors.As(err, &exitErr):
		return server.Send(&pulumirpc.RunPluginResponse{
			Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
		})
	default:
		return fmt.Errorf("could not run plugin %s with %s: %w", program, python, err)
	}
}

// pluginStream forwards a plugin's stdout or stderr to the engine as it is written.
type pluginStream struct {
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	stdout bool
}

var _ io.Writer = (*pluginStream)(nil)

func (s *pluginStream) Write(p []byte) (int, error) {
	chunk := append([]byte(nil), p...)
	var resp pulumirpc.RunPluginResponse
	if s.stdout {
		resp.Output = &pulumirpc.RunPluginResponse_Stdout{Stdout: chunk}
	} else {
		resp.Output = &pulumirpc.RunPluginResponse_Stderr{Stderr: chunk}
	}
	if err := s.server.Send(&resp); err != nil {
		return 0, err
	}
	return len(p), nil
}
