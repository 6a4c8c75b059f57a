"""Invariants of infra/terraform, read from the HCL itself (no terraform binary needed).

Every data store encrypted with a customer key, every bucket private, versioned and
replicated, RDS Multi-AZ with point-in-time recovery and deletion protection, alarms that page
for the API, the worker, the database and mail fetching, no secret in code or state.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import (
    MODULES,
    PRODUCTION,
    TERRAFORM,
    Block,
    blocks,
    files,
    load,
    resources,
    variable_default,
)

ROOT = TERRAFORM.parents[1]
LOG_BUCKETS = {"logs", "logs_standby"}


def _bucket_ref(block: Block) -> str:
    return str(block.body["bucket"])


def _by_bucket(kind: str) -> dict[str, Block]:
    return {_bucket_ref(b): b for b in resources(kind)}


class TestBuckets:
    def test_every_bucket_is_versioned(self) -> None:
        versioning = _by_bucket("aws_s3_bucket_versioning")
        for bucket in resources("aws_s3_bucket"):
            config = versioning.get(
                f"${{aws_s3_bucket.{bucket.name}[each.key].id}}"
            ) or versioning.get(f"${{aws_s3_bucket.{bucket.name}.id}}")
            assert config is not None, f"{bucket.where} has no versioning"
            assert config.first("versioning_configuration")["status"] == "Enabled"

    def test_every_bucket_blocks_all_public_access(self) -> None:
        blocks_ = _by_bucket("aws_s3_bucket_public_access_block")
        for bucket in resources("aws_s3_bucket"):
            ref = [
                k
                for k in blocks_
                if f"aws_s3_bucket.{bucket.name}[" in k or f"aws_s3_bucket.{bucket.name}.id" in k
            ]
            assert len(ref) == 1, f"{bucket.where} has no public access block"
            body = blocks_[ref[0]].body
            for flag in (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            ):
                assert body[flag] is True, f"{bucket.where}: {flag}"

    def test_every_bucket_enforces_owner_and_refuses_plain_http(self) -> None:
        ownership = _by_bucket("aws_s3_bucket_ownership_controls")
        policies = {b.name: b for b in blocks("data") if b.kind == "aws_iam_policy_document"}
        for bucket in resources("aws_s3_bucket"):
            matches = [b for k, b in ownership.items() if f"aws_s3_bucket.{bucket.name}" in k]
            assert matches and matches[0].first("rule")["object_ownership"] == "BucketOwnerEnforced"
            statements = policies[bucket.name].body["statement"]
            deny = [s for s in statements if s.get("sid") == "DenyInsecureTransport"]
            assert deny and deny[0]["effect"] == "Deny", bucket.where

    def test_data_buckets_are_encrypted_with_a_customer_key(self) -> None:
        encryption = _by_bucket("aws_s3_bucket_server_side_encryption_configuration")
        for bucket in resources("aws_s3_bucket"):
            matches = [b for k, b in encryption.items() if f"aws_s3_bucket.{bucket.name}" in k]
            assert matches, f"{bucket.where} is not encrypted"
            default = matches[0].first("rule")["apply_server_side_encryption_by_default"][0]
            if bucket.name in LOG_BUCKETS:
                # S3 access logs and ALB logs can only go to SSE-S3 buckets.
                assert default["sse_algorithm"] == "AES256"
            else:
                assert default["sse_algorithm"] == "aws:kms", bucket.where
                assert "kms_key_arn" in default["kms_master_key_id"], bucket.where

    def test_every_data_bucket_replicates_to_the_standby_region(self) -> None:
        (replication,) = resources("aws_s3_bucket_replication_configuration")
        assert replication.body["for_each"] == "${var.buckets}"
        assert "aws_s3_bucket.primary" in replication.body["bucket"]
        destination = replication.first("rule")["destination"][0]
        assert "aws_s3_bucket.replica" in destination["bucket"]
        assert (
            destination["encryption_configuration"][0]["replica_kms_key_id"]
            == "${var.standby_kms_key_arn}"
        )
        replicas = [b for b in resources("aws_s3_bucket") if b.name == "replica"]
        assert replicas[0].body["provider"] == "${aws.standby}"

    def test_production_has_attachment_recording_and_ivr_buckets(self) -> None:
        main = load(PRODUCTION / "main.tf")
        buckets = main["locals"][0]["buckets"]
        assert set(buckets) >= {"attachments", "recordings", "ivr"}


class TestEncryption:
    def test_every_log_group_uses_a_customer_key(self) -> None:
        groups = resources("aws_cloudwatch_log_group")
        assert len(groups) >= 3  # containers, flow logs, WAF
        for group in groups:
            assert "kms" in str(group.body.get("kms_key_id", "")), group.where

    def test_every_topic_secret_registry_and_vault_uses_a_customer_key(self) -> None:
        for kind, attribute in (
            ("aws_sns_topic", "kms_master_key_id"),
            ("aws_secretsmanager_secret", "kms_key_id"),
            ("aws_backup_vault", "kms_key_arn"),
        ):
            found = resources(kind)
            assert found, kind
            for block in found:
                assert "kms_key" in str(block.body.get(attribute, "")), block.where
        (ecr,) = resources("aws_ecr_repository")
        assert ecr.first("encryption_configuration")["encryption_type"] == "KMS"

    def test_keys_rotate(self) -> None:
        (key,) = resources("aws_kms_key")
        assert key.body["enable_key_rotation"] is True


class TestDatabase:
    def _primary(self) -> Block:
        return next(b for b in resources("aws_db_instance") if "database/" in str(b.path))

    def test_primary_is_multi_az_encrypted_and_private(self) -> None:
        db = self._primary()
        assert db.body["multi_az"] is True
        assert db.body["storage_encrypted"] is True
        assert db.body["kms_key_id"] == "${var.kms_key_arn}"
        assert db.body["performance_insights_kms_key_id"] == "${var.kms_key_arn}"
        assert db.body["publicly_accessible"] is False

    def test_primary_keeps_point_in_time_backups_and_cannot_be_deleted(self) -> None:
        db = self._primary()
        assert db.body["backup_retention_period"] == "${var.backup_retention_days}"
        assert variable_default("database", "backup_retention_days") >= 7
        assert db.body["deletion_protection"] is True
        assert db.body["skip_final_snapshot"] is False
        assert db.body["delete_automated_backups"] is False
        assert db.first("lifecycle")["prevent_destroy"] is True
        (replication,) = resources("aws_db_instance_automated_backups_replication")
        assert replication.body["provider"] == "${aws.standby}"

    def test_master_password_is_managed_by_rds_not_terraform(self) -> None:
        db = self._primary()
        assert db.body["manage_master_user_password"] is True
        assert "password" not in db.body

    def test_requires_tls(self) -> None:
        for group in resources("aws_db_parameter_group"):
            params = {p["name"]: p["value"] for p in group.body["parameter"]}
            assert params["rds.force_ssl"] == "1", group.where

    def test_standby_is_an_encrypted_cross_region_replica(self) -> None:
        replica = next(
            b for b in resources("aws_db_instance") if "database_replica/" in str(b.path)
        )
        assert replica.body["replicate_source_db"] == "${var.source_db_arn}"
        assert replica.body["storage_encrypted"] is True
        assert replica.body["deletion_protection"] is True
        assert replica.body["multi_az"] is True
        calls = {b.name: b for b in blocks("module", PRODUCTION)}
        assert calls["database_standby"].body["providers"] == {"aws": "${aws.standby}"}

    def test_aws_backup_copies_the_database_to_the_standby_region(self) -> None:
        (plan,) = resources("aws_backup_plan")
        for rule in plan.body["rule"]:
            assert "aws_backup_vault.standby" in rule["copy_action"][0]["destination_vault_arn"]
        calls = {b.name: b for b in blocks("module", PRODUCTION)}
        assert "module.database.instance_arn" in calls["backup"].body["resource_arns"]


class TestAlarms:
    def _alarms(self) -> list[Block]:
        return resources("aws_cloudwatch_metric_alarm")

    def test_every_alarm_pages(self) -> None:
        for alarm in self._alarms():
            assert alarm.body.get("alarm_actions"), f"{alarm.where} pages nobody"

    def test_the_api_is_watched_by_load_balancer_and_route53(self) -> None:
        metrics = {(a.body["namespace"], a.body["metric_name"]) for a in self._alarms()}
        assert ("AWS/ApplicationELB", "HealthyHostCount") in metrics
        assert ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count") in metrics
        assert ("AWS/Route53", "HealthCheckStatus") in metrics
        paths = {
            h["path"]
            for h in load(MODULES / "dns" / "main.tf")["locals"][0]["health_checks"].values()
        }
        assert paths == {"/healthz", "/readyz"}

    def test_api_and_worker_tasks_are_counted(self) -> None:
        running = next(a for a in self._alarms() if a.name == "running_tasks")
        assert running.body["metric_name"] == "RunningTaskCount"
        assert running.body["for_each"] == "${local.ecs_services}"
        local = load(MODULES / "monitoring" / "main.tf")["locals"][0]["ecs_services"]
        assert set(local) == {"api", "worker"}

    def test_the_database_and_its_replica_are_watched(self) -> None:
        rds = [a for a in self._alarms() if a.body["namespace"] == "AWS/RDS"]
        names = {a.name for a in rds}
        assert {"database", "replica_lag"} <= names
        (events,) = resources("aws_db_event_subscription")
        assert "failover" in events.body["event_categories"]

    def test_mail_fetching_pages_on_failures_and_on_silence(self) -> None:
        (filters,) = resources("aws_cloudwatch_log_metric_filter")
        patterns = filters.body["for_each"]
        alarms = {a.name: a for a in self._alarms()}
        assert alarms["mail_fetch_failures"].body["metric_name"] == "mail_fetch_failures"
        stalled = alarms["mail_fetch_stalled"].body
        assert stalled["metric_name"] == "mail_folders_fetched"
        assert stalled["treat_missing_data"] == "breaching"
        # The patterns must match what the worker really logs, or the alarms watch nothing.
        sources = {
            "mail_fetch_failures": ROOT / "support" / "mail" / "poller.py",
            "mail_folders_fetched": ROOT / "support" / "mail" / "fetch.py",
            "job_failures": ROOT / "support" / "jobs.py",
        }
        for metric, source in sources.items():
            message = re.search(r'\$\.msg = \\?"([^"\\]+)', patterns[metric])
            assert message, patterns[metric]
            assert f'"{message.group(1)}"' in source.read_text(encoding="utf-8"), metric


class TestNetworkAndCompute:
    def test_production_spans_three_zones_in_tokyo_with_osaka_standby(self) -> None:
        calls = {b.name: b for b in blocks("module", PRODUCTION)}
        assert len(calls["network"].body["availability_zones"]) == 3
        regions = {b.name: b.body.get("default") for b in blocks("variable", PRODUCTION)}
        assert regions["primary_region"] == "ap-northeast-1"
        assert regions["standby_region"] == "ap-northeast-3"

    def test_aws_apis_are_reached_through_vpc_endpoints(self) -> None:
        text = (MODULES / "network" / "main.tf").read_text(encoding="utf-8")
        for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "kms", "sts", "monitoring"):
            assert f'"{service}"' in text
        endpoints = {b.name: b for b in resources("aws_vpc_endpoint", MODULES / "network")}
        assert endpoints["s3"].body["vpc_endpoint_type"] == "Gateway"

    def test_search_is_reached_only_through_privatelink(self) -> None:
        (deployment,) = resources("ec_deployment")
        assert deployment.body["traffic_filter"] == ["${ec_deployment_traffic_filter.vpce.id}"]
        assert deployment.body["elasticsearch"]["hot"]["zone_count"] == 3
        (filter_,) = resources("ec_deployment_traffic_filter")
        assert filter_.body["type"] == "vpce"

    def test_api_and_worker_run_on_fargate_with_autoscaling(self) -> None:
        services = load(MODULES / "compute" / "main.tf")["locals"][0]["services"]
        assert services["api"]["command"][:2] == ["support", "serve"]
        assert services["worker"]["command"] == ["support", "worker"]
        (target,) = resources("aws_appautoscaling_target")
        assert target.body["for_each"] == "${local.services}"
        (service,) = resources("aws_ecs_service")
        assert service.body["launch_type"] == "FARGATE"
        assert service.first("network_configuration")["assign_public_ip"] is False

    def test_the_load_balancer_speaks_tls_behind_waf(self) -> None:
        (listener,) = resources("aws_lb_listener")
        assert listener.body["protocol"] == "HTTPS"
        assert listener.body["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
        assert resources("aws_wafv2_web_acl_association")
        (acl,) = resources("aws_wafv2_web_acl")
        groups = {
            r["statement"][0]["managed_rule_group_statement"][0]["name"]
            for r in acl.body["rule"]
            if "managed_rule_group_statement" in r["statement"][0]
        }
        assert {"AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet"} <= groups

    def test_the_image_runs_as_an_unprivileged_user(self) -> None:
        dockerfile = (ROOT / "infra" / "docker" / "Dockerfile").read_text(encoding="utf-8")
        assert "\nUSER support\n" in dockerfile
        assert "postgresql-client-${PG_MAJOR}" in dockerfile


class TestNoSecrets:
    SECRET_ATTRIBUTES = re.compile(r"^(password|master_password|secret_string|auth_token|api_key)$")

    def test_no_resource_holds_a_secret_value(self) -> None:
        for kind in ("aws_secretsmanager_secret_version", "aws_iam_access_key", "random_password"):
            assert not resources(kind), f"{kind} would put a secret into the state"
        for block in blocks("resource"):
            for key in block.body:
                assert not self.SECRET_ATTRIBUTES.match(key), f"{block.where}.{key}"

    def test_secrets_reach_containers_only_by_reference(self) -> None:
        main = load(PRODUCTION / "main.tf")["locals"][0]
        for name, ref in main["secret_environment"].items():
            assert ref.startswith("${module.secrets.arns["), name
        assert not any(re.search(r"(?i)password|token|secret", k) for k in main["environment"])

    def test_no_literal_credentials_in_any_file(self) -> None:
        pattern = re.compile(
            r"(?i)(AKIA[0-9A-Z]{16}|password\s*=\s*\"[^$\"]+\"|BEGIN [A-Z ]*PRIVATE KEY)"
        )
        for path in [*files(), PRODUCTION / "terraform.tfvars.example"]:
            assert not pattern.search(path.read_text(encoding="utf-8")), path


class TestDocumentation:
    def test_every_variable_has_a_description_and_a_type(self) -> None:
        for variable in blocks("variable"):
            assert variable.body.get("description"), variable.where
            assert variable.body.get("type"), variable.where

    def test_every_output_has_a_description(self) -> None:
        for output in blocks("output"):
            assert output.body.get("description"), output.where

    @pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
    def test_every_checkov_skip_says_why(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                match = re.search(r"checkov:skip=(CKV2?_[A-Z0-9_]+):(.+)", line)
                assert match and len(match.group(2).strip()) > 30, f"{path}: {line.strip()}"
