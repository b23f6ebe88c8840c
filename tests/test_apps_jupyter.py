"""jupyter_client + ipykernel, unmodified, on vmzmq (tools/pyzmq_as_vmzmq.py).

A client process (jupyter_client) starts an IPython kernel (ipykernel, a grandchild process
started by jupyter_client) and drives it over the Jupyter protocol: shell (ROUTER/DEALER),
iopub (PUB/SUB through ipykernel's XPUB), stdin, control and heartbeat channels. Both the
client and the kernel import ``zmq`` and get vmzmq; the hook's log proves it for each pid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apps_support import HOOK, VMZMQ_INIT, load_hook

if importlib.util.find_spec("jupyter_client") is None:  # not imported: no side effects here
    pytest.skip("jupyter_client is not installed", allow_module_level=True)
if importlib.util.find_spec("ipykernel") is None:  # not imported: no side effects here
    pytest.skip("ipykernel is not installed", allow_module_level=True)

pyzmq_as_vmzmq = load_hook()

# Generous: a kernel start costs a few seconds of CPU, more on a loaded machine.
TIMEOUT = 240

CLIENT = textwrap.dedent(
    """
    import json, os, sys
    import zmq
    from jupyter_client.manager import KernelManager

    transport, encryption = sys.argv[1], sys.argv[2]
    km = KernelManager(
        kernel_name="python3", transport=transport, transport_encryption=encryption
    )
    if "KERNEL_PYTHONPATH" in os.environ:  # the kernel on the other zmq (interop)
        env = dict(os.environ, PYTHONPATH=os.environ["KERNEL_PYTHONPATH"])
        km.start_kernel(env=env)
    else:
        km.start_kernel()
    kc = km.client()
    kc.start_channels()
    out = {"client_pid": os.getpid(), "client_zmq": zmq.__file__}
    try:
        kc.wait_for_ready(timeout=120)
        out["connection_keys"] = sorted(km.get_connection_info())

        results = []
        reply = kc.execute_interactive(
            "1+1", timeout=120, output_hook=results.append
        )
        out["status"] = reply["content"]["status"]
        out["result"] = [
            m["content"]["data"]["text/plain"]
            for m in results
            if m["msg_type"] == "execute_result"
        ]

        streams = []
        reply = kc.execute_interactive(
            "import os, zmq; print(os.getpid(), zmq.__name__, zmq.__file__)",
            timeout=120,
            output_hook=streams.append,
        )
        out["kernel_says"] = "".join(
            m["content"]["text"] for m in streams if m["msg_type"] == "stream"
        ).split()

        # stdin: the kernel asks the client (input()) and prints the answer reversed.
        streams = []
        reply = kc.execute_interactive(
            "print(input('word? ')[::-1])",
            timeout=120,
            allow_stdin=True,
            stdin_hook=lambda msg: kc.input("vmzmq"),
            output_hook=streams.append,
        )
        out["stdin_status"] = reply["content"]["status"]
        out["stdin_echo"] = "".join(
            m["content"]["text"] for m in streams if m["msg_type"] == "stream"
        ).strip()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    out["alive_after_shutdown"] = km.is_alive()
    print(json.dumps(out))
    """
)

LIFECYCLE = textwrap.dedent(
    """
    import asyncio, json, os
    from jupyter_client.manager import AsyncKernelManager

    async def main():
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        out = {}
        try:
            await kc.wait_for_ready(timeout=120)
            # Interrupt a busy kernel: wait until it says it is busy (its own print on
            # iopub), then SIGINT through the manager; the reply is a KeyboardInterrupt.
            msg_id = kc.execute("print('busy', flush=True); import time; time.sleep(300)")
            while True:
                msg = await kc.get_iopub_msg(timeout=120)
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "stream"
                    and "busy" in msg["content"]["text"]
                ):
                    break
            await km.interrupt_kernel()
            while True:
                reply = await kc.get_shell_msg(timeout=120)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            out["interrupted"] = [reply["content"]["status"], reply["content"].get("ename")]

            old_pid = km.provisioner.process.pid
            await km.restart_kernel(now=False)
            await kc.wait_for_ready(timeout=120)
            out["new_process"] = km.provisioner.process.pid != old_pid
            results = []
            reply = await kc.execute_interactive(
                "6*7", timeout=120, output_hook=results.append
            )
            out["after_restart"] = [
                m["content"]["data"]["text/plain"]
                for m in results
                if m["msg_type"] == "execute_result"
            ]
            out["execution_count"] = reply["content"]["execution_count"]
            out["alive"] = await km.is_alive()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=False)
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def _jupyter_env(tmp_path: Path, log: Path) -> dict[str, str]:
    env = pyzmq_as_vmzmq.environ(log=str(log))
    # Keep jupyter's and IPython's files out of the user's home.
    for var, sub in (
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[var] = str(tmp_path / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def _run(
    script: str, args: list[str], tmp_path: Path, env: dict[str, str], hooked: bool = True
) -> dict:
    path = tmp_path / "client.py"
    path.write_text(script)
    proc = subprocess.Popen(
        [sys.executable, *([str(HOOK)] if hooked else []), str(path), *args],
        cwd=tmp_path,  # ipc endpoints are relative to it
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the kernel too, so a hung run is cleaned up whole
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the client did not finish in {TIMEOUT}s\n{out}\n{err}")
    assert proc.returncode == 0, f"client failed ({proc.returncode}):\n{out}\n{err}"
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "transport,encryption",
    [("tcp", "disabled"), ("ipc", "disabled"), ("tcp", "required")],
    ids=["tcp", "ipc", "tcp-curve"],
)
def test_kernel_executes_code(tmp_path: Path, transport: str, encryption: str) -> None:
    log = tmp_path / "hook.log"
    out = _run(CLIENT, [transport, encryption], tmp_path, _jupyter_env(tmp_path, log))

    assert out["status"] == "ok"
    assert out["result"] == ["2"]
    assert out["stdin_status"] == "ok"
    assert out["stdin_echo"] == "qmzmv"
    assert out["alive_after_shutdown"] is False
    if encryption == "required":  # the kernel's sockets are CURVE servers
        assert {"curve_publickey", "curve_secretkey"} <= set(out["connection_keys"])

    kernel_pid, kernel_zmq_name, kernel_zmq_file = out["kernel_says"]
    assert kernel_zmq_name == "vmzmq"
    assert kernel_zmq_file == VMZMQ_INIT == out["client_zmq"]
    hooked = {rec["pid"]: rec["zmq_file"] for rec in pyzmq_as_vmzmq.read_log(str(log))}
    assert hooked.get(out["client_pid"]) == VMZMQ_INIT
    assert hooked.get(int(kernel_pid)) == VMZMQ_INIT


def test_kernel_interrupt_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    out = _run(LIFECYCLE, [], tmp_path, _jupyter_env(tmp_path, log))

    assert out["interrupted"] == ["error", "KeyboardInterrupt"]
    assert out["new_process"] is True
    assert out["after_restart"] == ["42"]
    assert out["execution_count"] == 1  # a fresh kernel
    assert out["alive"] is True
    # The client and both kernels (before and after the restart) ran on vmzmq.
    records = pyzmq_as_vmzmq.read_log(str(log))
    assert len({rec["pid"] for rec in records}) >= 3
    assert {rec["zmq_file"] for rec in records} == {VMZMQ_INIT}


@pytest.mark.interop
@pytest.mark.parametrize("encryption", ["disabled", "required"], ids=["tcp", "tcp-curve"])
@pytest.mark.parametrize("client_on", ["vmzmq", "pyzmq"])
def test_interop_with_libzmq(tmp_path: Path, client_on: str, encryption: str) -> None:
    """One side on vmzmq, the other on pyzmq/libzmq: a vmzmq client drives a libzmq kernel,
    and a libzmq client drives a vmzmq kernel, in the clear and with CURVE."""
    if importlib.util.find_spec("zmq") is None:  # real pyzmq, in the children only
        pytest.skip("pyzmq is not installed")
    log = tmp_path / "hook.log"
    hooked_env = _jupyter_env(tmp_path, log)
    if client_on == "vmzmq":
        env = dict(hooked_env)
        plain_path = os.environ.get("PYTHONPATH", "")
        env["KERNEL_PYTHONPATH"] = plain_path  # without the hook's directory
    else:
        env = dict(hooked_env)
        env["KERNEL_PYTHONPATH"] = hooked_env["PYTHONPATH"]
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    out = _run(CLIENT, ["tcp", encryption], tmp_path, env, hooked=client_on == "vmzmq")

    assert out["status"] == "ok"
    assert out["result"] == ["2"]
    assert out["stdin_echo"] == "qmzmv"
    kernel_pid, kernel_zmq_name, kernel_zmq_file = out["kernel_says"]
    hooked = {rec["pid"] for rec in pyzmq_as_vmzmq.read_log(str(log))}
    if client_on == "vmzmq":
        assert out["client_zmq"] == VMZMQ_INIT and out["client_pid"] in hooked
        assert kernel_zmq_name == "zmq" and kernel_zmq_file != VMZMQ_INIT
        assert int(kernel_pid) not in hooked
    else:
        assert out["client_zmq"] != VMZMQ_INIT and out["client_pid"] not in hooked
        assert kernel_zmq_name == "vmzmq" and kernel_zmq_file == VMZMQ_INIT
        assert int(kernel_pid) in hooked
