"""The notebooks here are made for the browser test (tests/test_browser.py), which runs them in
JupyterLab; nbval does not collect them (only this folder's notebooks: notebooks/ and solutions/
are collected as before). tests/test_browser_notebooks.py checks, without a browser, that each
explorer they build is built exactly as in its lecture."""

collect_ignore_glob = ["*.ipynb"]
