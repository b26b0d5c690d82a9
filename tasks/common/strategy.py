"""Devices, seeds and ``tf.distribute`` strategies for a training run.

:class:`tasks.common.run_dir.RunDir` calls these when it prepares a run; a
task names the strategies it supports, and any other is refused before
TensorFlow builds anything.
"""

import json
import os

from tasks.common.config import STRATEGIES, ConfigError


def check_strategy(task_name, strategy, supported=STRATEGIES, reason=""):
    """Refuses a strategy the task cannot train under, with the reason, before any work starts."""
    if strategy not in supported:
        because = f": {reason}" if reason else ""
        raise ConfigError(f"{task_name} cannot train with --strategy {strategy}{because}. "
                          f"Supported strategies: {', '.join(supported)}.")


def configure_devices(config):
    """Splits the CPU into ``config.logical_cpus`` logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    if config.logical_cpus > 0:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * config.logical_cpus
            )
        except RuntimeError as error:
            raise ConfigError(f"--logical-cpus must be set before TensorFlow starts: {error}")


def make_strategy(config):
    import tensorflow as tf

    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("--strategy multi_worker needs the TF_CONFIG environment variable "
                              "describing the cluster (see the README).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_identity():
    """(is_chief, worker name) from TF_CONFIG; a single process is the chief."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type is None:
        return True, "chief"
    has_chief = "chief" in tf_config.get("cluster", {})
    is_chief = task_type == "chief" or (task_type == "worker" and index == 0 and not has_chief)
    return is_chief, f"{task_type}-{index}"


def seed_everything(config):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def shard_by_data(dataset):
    """Under MultiWorkerMirroredStrategy each worker reads every file, so batches are split by element."""
    import tensorflow as tf

    if dataset is None:
        return None
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
