"""Execute one notebook with Jupyter's own executor (nbclient) and export it to HTML.

Used by `stepagent report` and the notebook tests. Prints one JSON line on stdout:
  {"ok": true, "seconds": …, "cells": …}
or, when a cell fails or the kernel is missing,
  {"ok": false, "reason": "cell-error" | "no-kernel" | "kernel-died", "cell": index, "source": …,
   "error": "Name: message", "stderr": …}
so the caller can name the notebook and cell. Writes nothing unless execution succeeded.

usage: execute_notebook.py NOTEBOOK OUT_IPYNB OUT_HTML KERNEL TIMEOUT TEMPLATE_DIR
"""
import json
import os
import sys
import time


def main():
    src, out_ipynb, out_html, kernel, timeout, template_dir = sys.argv[1:7]
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from jupyter_client.kernelspec import NoSuchKernel

    nb = nbformat.read(src, as_version=4)
    cwd = os.path.dirname(os.path.abspath(src))
    client = NotebookClient(nb, kernel_name=kernel, timeout=int(timeout), resources={"metadata": {"path": cwd}})
    started = time.time()
    try:
        client.execute()
    except NoSuchKernel:
        print(json.dumps({"ok": False, "reason": "no-kernel", "kernel": kernel}))
        return 3
    except DeadKernelError as err:
        print(json.dumps({"ok": False, "reason": "kernel-died", "error": str(err)}))
        return 3
    except CellExecutionError as err:
        failing = None
        for index, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    failing = (index, cell, output)
                    break
            if failing:
                break
        info = {"ok": False, "reason": "cell-error", "error": str(err).strip().splitlines()[-1] if str(err).strip() else "error"}
        if failing:
            index, cell, output = failing
            stderr = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr")
            info.update({"cell": index, "source": cell.source, "error": f"{output.get('ename', '')}: {output.get('evalue', '')}", "stderr": stderr})
        print(json.dumps(info))
        return 3
    seconds = time.time() - started

    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="stepagent", extra_template_basedirs=[template_dir])
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    html, _ = exporter.from_notebook_node(nb)
    with open(out_ipynb, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    with open(out_html, "w", encoding="utf-8") as f:
        f.write(html)
    print(json.dumps({"ok": True, "seconds": seconds, "cells": len(nb.cells)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
