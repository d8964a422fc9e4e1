"""Tools put large CPU tensors on huge pages unless the environment says otherwise."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = ('import os, sys\n'
         'from mmpdepth.utils.cli import run_tool\n'
         'run_tool(lambda: print(os.environ.get("THP_MEM_ALLOC_ENABLE")), ["probe"])\n')


def _probe(env_value):
    env = {k: v for k, v in os.environ.items() if k != 'THP_MEM_ALLOC_ENABLE'}
    if env_value is not None:
        env['THP_MEM_ALLOC_ENABLE'] = env_value
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_run_tool_turns_huge_pages_on_and_keeps_the_users_choice():
    assert _probe(None) == '1'
    assert _probe('0') == '0'
