"""Environment merging as dockerd does it for create and exec."""

from dockerscope.engine.containers.create_request import merge_env


def test_key_without_value_unsets_and_is_dropped() -> None:
    # `docker run -e FOO` with FOO unset on the client sends "FOO": no FOO in the container
    assert merge_env(("PATH=/bin",), ("FOO",)) == ("PATH=/bin",)
    # and it removes a value the image set
    assert merge_env(("PATH=/bin", "A=1"), ("A",)) == ("PATH=/bin",)
    assert merge_env(("A=1",), ("A", "A=3")) == ("A=3",)
    assert merge_env((), ("EMPTY=",)) == ("EMPTY=",)
