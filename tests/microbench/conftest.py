import torch


def pytest_benchmark_update_machine_info(config, machine_info):
    """Micro-benchmark results carry the torch build and thread count they ran with."""
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cuda"] = torch.version.cuda
