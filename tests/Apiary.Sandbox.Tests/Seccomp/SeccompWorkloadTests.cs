namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>Ordinary programs under the filter, in real bubblewrap sandboxes: the filter must not break them.</summary>
public sealed class SeccompWorkloadTests(SeccompSandboxFixture sandbox) : IClassFixture<SeccompSandboxFixture>
{
    [Fact]
    public async Task Workload_AnyCommand_RunsUnderTheFilter()
    {
        var run = await sandbox.RunAsync(true, "/bin/sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status");

        Assert.Equal(0, run.ExitCode);
        Assert.Matches(@"Seccomp:\s+2\nSeccomp_filters:\s+1\n", run.Stdout);
    }

    [Fact]
    public async Task Workload_Python_Starts()
    {
        var run = await sandbox.PythonAsync("import json, ssl, subprocess, threading; print(sum(range(10)))");

        Assert.Equal((0, "45\n"), (run.ExitCode, run.Stdout));
    }

    [Fact]
    public async Task Workload_ShellPipelineAndLs_Work()
    {
        var run = await sandbox.RunAsync(true, "/bin/sh", "-c", "echo hi | cat; ls / | grep -x usr; (echo b; echo a) | sort | tr -d '\\n'");

        Assert.Equal((0, "hi\nusr\nab"), (run.ExitCode, run.Stdout));
    }

    [Fact]
    public async Task Workload_ForkAndExecChildren_Work()
    {
        const string Script = """
            import os, subprocess
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            print('fork', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
            print(subprocess.run(['sh', '-c', 'echo child $((6 * 7))'], capture_output=True, text=True).stdout.strip())
            print(subprocess.run(['python3', '-c', 'print("grandchild")'], capture_output=True, text=True).stdout.strip())
            """;

        var run = await sandbox.PythonAsync(Script);

        Assert.Equal((0, "fork 7\nchild 42\ngrandchild\n"), (run.ExitCode, run.Stdout));
    }

    [Fact]
    public async Task Workload_Threads_StartThroughTheCloneFallback()
    {
        const string Script = """
            import threading
            results = []
            lock = threading.Lock()
            def work(i):
                with lock:
                    results.append(i * i)
            threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(sorted(results))
            """;

        var run = await sandbox.PythonAsync(Script);

        Assert.Equal((0, "[0, 1, 4, 9, 16, 25, 36, 49]\n"), (run.ExitCode, run.Stdout));
    }

    [Fact]
    public async Task Workload_FileChanges_Work()
    {
        const string Script =
            "set -e; mkdir -p d/e; echo x > d/f; chmod 755 d/f; chmod +t d; install -m 750 d/f d/g; cp -a d/g d/h; "
            + "mv d/h d/e/i; ln -s f d/l; stat -c '%a %n' d/f d/g d/e/i; rm -r d; echo done";

        var run = await sandbox.RunAsync(true, "/bin/sh", "-c", Script);

        Assert.Equal((0, "755 d/f\n750 d/g\n750 d/e/i\ndone\n"), (run.ExitCode, run.Stdout));
    }

    [Fact]
    public async Task Workload_LoopbackAndUnixSockets_Work()
    {
        const string Script = """
            import socket
            server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()
            client = socket.create_connection(server.getsockname()); peer, _ = server.accept()
            client.sendall(b'tcp'); print(peer.recv(3).decode())
            a, b = socket.socketpair(socket.AF_UNIX); a.sendall(b'unix'); print(b.recv(4).decode())
            """;

        var run = await sandbox.PythonAsync(Script);

        Assert.Equal((0, "tcp\nunix\n"), (run.ExitCode, run.Stdout));
    }
}
