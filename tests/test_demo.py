"""The Quickstart's demo: it writes a stream that decodes to the PNG it writes beside it."""
import imageio.v3 as iio
import numpy as np
import pytest

import minicodec
from minicodec import demo


@pytest.mark.parametrize("shape", [(37, 50, 3), (24, 33)])
def test_demo_writes_stream_and_matching_png(tmp_path, capsys, shape):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, shape, np.uint8)
    src = tmp_path / "pic.png"
    iio.imwrite(src, img)
    demo.main(["--input", str(src), "--qp", "30", "--effort", "medium", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    stream = tmp_path / "o" / "pic_qp30.264"
    png = tmp_path / "o" / "pic_qp30_decoded.png"
    assert f"{stream.stat().st_size} bytes" in out
    decoded = minicodec.decode(stream.read_bytes(), output="rgb" if len(shape) == 3 else "gray")
    assert decoded.shape == shape  # cropped to the picture
    np.testing.assert_array_equal(decoded, iio.imread(png))
