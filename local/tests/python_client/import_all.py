"""Imports every module of the generated client package named by argv[1]
(its parent folder on sys.path); prints each failure and exits 1 on any."""

import importlib
import pkgutil
import sys
import traceback

package = importlib.import_module(sys.argv[1])
names = [sys.argv[1]] + [m.name for m in pkgutil.walk_packages(package.__path__, sys.argv[1] + ".")]
failed = 0
for name in names:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - every failure is reported
        failed += 1
        print(f"cannot import {name}:\n{traceback.format_exc()}")
print(f"imported {len(names) - failed} of {len(names)} modules")
sys.exit(1 if failed else 0)
