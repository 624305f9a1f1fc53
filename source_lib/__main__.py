"""``python -m source_lib``: the device report and the lecture's activation table."""

from source_lib import activations, device


def main() -> None:
    device.describe()
    print()
    print(activations.format_activation_table())


if __name__ == "__main__":
    main()
