"""Every speed figure carries the CPU it was measured on: model, vector extensions, torch's kernel dispatch."""

from captra.common import provenance


def test_the_machine_record_names_the_cpu_and_its_vector_extensions(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n")
    real_path = provenance.Path
    monkeypatch.setattr(provenance, "Path", lambda name: cpuinfo if name == "/proc/cpuinfo" else real_path(name))
    record = provenance.machine()
    assert record["cpu"] == "AMD EPYC 7B13" and record["cpu_extensions"] == ["avx2", "fma"]  # no AVX-512, no VNNI
    assert record["torch_cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256", "SVE")
    assert "AMD EPYC 7B13 with avx2, fma; torch kernels" in provenance.describe_machine()
