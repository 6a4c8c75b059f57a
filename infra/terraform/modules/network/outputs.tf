output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT gateways), one per zone."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (containers), one per zone."
  value       = aws_subnet.private[*].id
}

output "data_subnet_ids" {
  description = "Isolated subnets (database, search endpoint), one per zone."
  value       = aws_subnet.data[*].id
}

output "nat_public_ips" {
  description = "Addresses our outbound traffic leaves from: give them to IMAP/SMTP providers that filter by source."
  value       = aws_eip.nat[*].public_ip
}
