output "cluster_name" {
  description = "ECS cluster name (alarms, runbooks)."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS service name by role (api, worker)."
  value       = { for k, s in aws_ecs_service.this : k => s.name }
}

output "task_definition_arns" {
  description = "Task definition by role (one-off tasks such as `support db upgrade` or `support backup create`)."
  value       = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "log_group_names" {
  description = "Log group by role (metric filters, investigations)."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

output "repository_url" {
  description = "ECR repository to push the image to."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ECR repository ARN."
  value       = aws_ecr_repository.this.arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (admitted by the database and the search endpoint)."
  value       = aws_security_group.tasks.id
}

output "alb_arn_suffix" {
  description = "Load balancer ARN suffix (CloudWatch dimensions)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "API target group ARN suffix (CloudWatch dimensions)."
  value       = aws_lb_target_group.api.arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (Route 53 alias target)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer (Route 53 alias)."
  value       = aws_lb.this.zone_id
}
