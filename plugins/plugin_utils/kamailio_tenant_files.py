# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading tenant files on the controller: plain YAML in, plain Python data out.

Tenant files come from pull requests, so they are parsed as data and nothing else: PyYAML's safe
loader (the C one when libyaml is there), plus two tags of Ansible's: `!vault` (decrypted with the
play's vault secrets) and `!unsafe` (a plain string here, as nothing is templated anyway). The
result holds only str, int, bool, None, lists and dicts, so no later step can mistake it for a
template. Numbers YAML 1.1 would read in surprising ways (0123 is 83, 1:20 is 80) are refused
with a request to quote them; error messages give the line and column, never file content (a
decrypted file may hold passwords).
"""

import os
import re

import yaml

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - libyaml is part of every supported controller
    from yaml import SafeLoader as _SafeLoader

SUFFIXES = (".yml", ".yaml")
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


class TenantFileError(ValueError):
    """A tenant file cannot be read; the message names it and says why, without its content."""


class _TenantLoader(_SafeLoader):
    decrypt = None  # set per load: text of a !vault value -> plaintext


def _int(loader, node):
    if not _DECIMAL.fullmatch(node.value):
        raise yaml.constructor.ConstructorError(
            None,
            None,
            "the number %r reads differently in YAML 1.1 than it looks; quote it" % node.value,
            node.start_mark,
        )
    return int(node.value)


def _vault(loader, node):
    try:
        return loader.decrypt(loader.construct_scalar(node))
    except Exception as exc:  # any failure of the vault library means "cannot decrypt"
        # Vault errors name the cause (no matching secret, bad format), never the content.
        raise yaml.constructor.ConstructorError(
            None, None, "cannot decrypt this !vault value: %s" % exc, node.start_mark
        ) from None


def _unsafe(loader, node):
    return loader.construct_scalar(node)


_TenantLoader.add_constructor("tag:yaml.org,2002:int", _int)
_TenantLoader.add_constructor("!vault", _vault)
_TenantLoader.add_constructor("!unsafe", _unsafe)


def _where(exc):
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    if mark is None:
        return problem
    return "line %d, column %d: %s" % (mark.line + 1, mark.column + 1, problem)


def parse_text(text, source, decrypt):
    """The data of one tenant file's text; TenantFileError names the file and the position."""
    loader = _TenantLoader(text)
    loader.decrypt = decrypt
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise TenantFileError("%s: %s" % (source, _where(exc))) from None
    except TenantFileError as exc:
        raise TenantFileError("%s: %s" % (source, exc)) from None
    finally:
        loader.dispose()
    if data is None:
        raise TenantFileError("%s: the file is empty" % source)
    return data


def list_directory(path):
    """The tenant files of a directory, sorted; refuses symbolic links and a missing directory."""
    if not os.path.isdir(path):
        raise TenantFileError("tenants directory %s does not exist on the controller" % path)
    found = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.startswith(".") or not name.endswith(SUFFIXES):
            continue
        found.append(full)
    return found


def check_regular_file(path):
    """A tenant file must be a regular file, not a link that could point at any file of the
    controller (a pull request can add a symbolic link as easily as a file)."""
    if os.path.islink(path):
        raise TenantFileError("%s is a symbolic link; tenant files must be regular files" % path)
    if not os.path.isfile(path):
        raise TenantFileError("%s does not exist or is not a regular file" % path)
    return path


def default_name(path):
    """A tenant's name when its file gives none: the file name without .yml/.yaml."""
    name = os.path.basename(path)
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def plain(value):
    """A deep copy of value made only of str, int, float, bool, None, list and dict (no tagged or
    lazily decrypted Ansible types); inventory tenants pass through here."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    # str subclasses and Ansible's EncryptedString (decrypted by str())
    return str(value)
