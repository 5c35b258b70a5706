"""ui/components/chart.py: the browser finds Plotly.js where the server serves it."""
from pathlib import Path

import plotly
from streamlit import config

from ui.components import chart


def test_plotly_js_is_the_plotly_package_own_copy_and_its_address_follows_the_base_path():
    served = Path(chart._PLOTLY_FILES.path)
    assert served == Path(plotly.__file__).parent / "package_data" and (served / "plotly.min.js").is_file()
    name = chart._PLOTLY_FILES.name
    assert chart.plotly_js_url() == f"/component/{name}/plotly.min.js"
    config.set_option("server.baseUrlPath", "/course/diffusion/")
    try:
        assert chart.plotly_js_url() == f"/course/diffusion/component/{name}/plotly.min.js"
    finally:
        config.set_option("server.baseUrlPath", "")
