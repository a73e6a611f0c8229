"""Run a playbook from the controller against molecule's inventory, as an operator runs one."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

# site.yml as the scenarios' converge runs it: the trusted client's address first (always,
# whatever the tags: the SIP servers' trusted networks are built from it).
SITE = """
- name: Learn the trusted SIP client's address
  hosts: sipclients
  gather_facts: false
  tasks:
    - name: Gather the client's network facts
      ansible.builtin.setup:
        gather_subset: [min, network]
      tags: [always]

- name: The deployment
  ansible.builtin.import_playbook: {repo}/playbooks/site.yml
""".format(repo=REPO)


def _tool(name):
    """An Ansible command of this venv (molecule runs pytest with the venv's Python)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def ansible_env(**extra):
    """The environment of an ansible-playbook run from the tests: this checkout's collection,
    pipelining, plain output."""
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
        ANSIBLE_PIPELINING="True",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        **extra,
    )


def run_playbook(workdir, text, extra=None, timeout=600, options=()):
    """Write `text` as a playbook into workdir, run it with `extra` vars and further
    ansible-playbook `options`; (rc, output)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "playbook.yml"
    playbook.write_text(text)
    cmd = [_tool("ansible-playbook"), "-i", inventory, str(playbook)]
    if extra is not None:
        extra_file = workdir / "extra.json"
        extra_file.write_text(json.dumps(extra))
        cmd += ["-e", "@%s" % extra_file]
    cmd += list(options)
    proc = subprocess.run(
        cmd,
        env=ansible_env(),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr
