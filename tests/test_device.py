import pytest
import torch

from mgdlcore.device import resolve_device


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_one_line_error():
    with pytest.raises(ValueError, match="no CUDA GPU; use 'cpu' or 'auto'") as err:
        resolve_device("cuda")
    assert "\n" not in str(err.value)


def test_unknown_device():
    with pytest.raises(ValueError, match="accepted: auto, cpu, cuda"):
        resolve_device("tpu")
